import jwt from 'jsonwebtoken';
import { getAddress, isAddress } from 'viem';
import { publish } from '../db/events.ts';
import { bumpSessionVersion, sessionVersions } from '../db/session-store.ts';
import { createCoalescer } from './coalesce.ts';
import { unauthenticated } from '../domain/errors.ts';
import type { Deps } from './deps.ts';
import { type Viewer, rolesOf, resolveSubject } from './viewer.ts';

/**
 * Verifies a bearer token. Only HS256 with our key (or the previous key during a
 * rotation) is accepted, so unsigned (`alg: none`) and foreign tokens are refused; it must
 * carry an expiry, must not be issued in the future, and must be of the address's current
 * session version (signing out ends every earlier session). Roles are re-derived from
 * configuration, so removing an admin takes effect at once.
 */
export async function verifySessionToken(deps: Deps, token: string): Promise<Viewer> {
  const claims = verifiedClaims(deps, token);
  const address = getAddress(claims.sub);
  if ((await sessionVersion(deps, address)) !== claims.sv) throw unauthenticated('the session was signed out; sign in again');
  return { address, roles: rolesOf(deps, address), session: { version: claims.sv, expiresAt: claims.exp * 1000 } };
}

/**
 * The session version of an address as the database holds it now. Every signed-in request asks
 * it; under load the requests that arrive while one lookup is in flight share the next one, a
 * statement per burst rather than per request. Each lookup starts after its callers asked, so a
 * request sent after a sign-out committed is refused (createCoalescer's invariant).
 */
const lookups = new WeakMap<Deps['db'], (key: null, address: string) => Promise<number | null>>();
function sessionVersion(deps: Deps, address: string): Promise<number | null> {
  let lookup = lookups.get(deps.db);
  if (!lookup) {
    lookup = createCoalescer(async (_key: null, addresses: readonly string[]) => {
      const versions = await sessionVersions(deps.db, [...new Set(addresses)]);
      return addresses.map((a) => versions.get(a) ?? null);
    });
    lookups.set(deps.db, lookup);
  }
  return lookup(null, address);
}

interface Claims {
  sub: string;
  sv: number;
  exp: number;
  iat: number;
}

/**
 * Tokens whose signature, algorithm, issuer and audience verified, with their claims: a client
 * sends the same token on every request, and a request verifies it twice (the body limit asks
 * whether it is an admin's first). What depends on the time, expiry and issue time, is checked
 * again on every use. Per configuration (its secrets); emptied when full.
 */
const verified = new WeakMap<Deps['config'], Map<string, Claims>>();
const VERIFIED_MAX = 10_000;

/** The claims of a token signed with our key, checked for time; no database read. */
export function verifiedClaims(deps: Deps, token: string): { sub: string; sv: number; exp: number } {
  const now = Math.floor(deps.clock.now() / 1000);
  let known = verified.get(deps.config);
  if (!known) verified.set(deps.config, (known = new Map()));
  let claims = known.get(token);
  if (!claims) {
    claims = verify(deps, token, now);
    if (known.size >= VERIFIED_MAX) known.clear();
    known.set(token, claims);
  }
  // As jsonwebtoken judges them, at every use.
  if (now >= claims.exp) throw unauthenticated('the session has expired; sign in again');
  if (claims.iat > now + deps.config.siwe.clockSkewSeconds) throw unauthenticated('the session token is issued in the future');
  return { sub: claims.sub, sv: claims.sv, exp: claims.exp };
}

function verify(deps: Deps, token: string, now: number): Claims {
  const secrets = [deps.config.jwt.secret, deps.config.jwt.previousSecret].filter((s): s is string => Boolean(s));
  for (const secret of secrets) {
    let payload: string | jwt.JwtPayload;
    try {
      payload = jwt.verify(token, secret, {
        algorithms: ['HS256'],
        issuer: deps.config.jwt.issuer,
        audience: deps.config.jwt.audience,
        clockTimestamp: now,
      });
    } catch (error) {
      if (error instanceof jwt.TokenExpiredError) throw unauthenticated('the session has expired; sign in again');
      continue;
    }
    if (typeof payload !== 'object' || typeof payload.sub !== 'string' || !isAddress(payload.sub)) break;
    if (typeof payload.exp !== 'number') throw unauthenticated('the session token has no expiry');
    if (typeof payload.iat !== 'number' || payload.iat > now + deps.config.siwe.clockSkewSeconds)
      throw unauthenticated('the session token is issued in the future');
    // We never issue a not-before: a token with one is not ours to remember and judge by time.
    if (!Number.isInteger(payload.sv) || payload.nbf !== undefined) break;
    return { sub: payload.sub, sv: payload.sv as number, exp: payload.exp, iat: payload.iat };
  }
  throw unauthenticated('the session token is invalid');
}

/**
 * Ends every session of the caller (a leaked token dies now), or of `address` for an admin;
 * every replica hears it at commit and closes the sockets and streams those sessions hold open.
 */
export async function revokeSessions(deps: Deps, viewer: Viewer | null, address?: string | null): Promise<boolean> {
  const subject = resolveSubject(viewer, address);
  await deps.db.transaction(async (tx) => {
    const version = await bumpSessionVersion(tx, subject);
    if (version !== null) await publish(tx, { type: 'session', address: subject, version });
  });
  return true;
}
