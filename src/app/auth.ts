import { sql } from 'drizzle-orm';
import jwt from 'jsonwebtoken';
import { type Hex, getAddress, isAddress, isHex, verifyMessage } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage, generateSiweNonce, parseSiweMessage, validateSiweMessage } from 'viem/siwe';
import { ts } from '../db/sql-helpers.ts';
import { badInput, forbidden, unauthenticated } from '../domain/errors.ts';
import type { Deps } from './deps.ts';

export type Role = 'admin';

export interface Viewer {
  address: string;
  roles: Role[];
}

export interface Session {
  token: string;
  expiresAt: number;
  account: Viewer;
}

function rolesOf(deps: Deps, address: string): Role[] {
  return deps.config.admins.includes(address) ? ['admin'] : [];
}

export function normaliseAddress(value: string, field = 'address'): string {
  if (typeof value !== 'string' || !isAddress(value, { strict: false })) {
    throw badInput(`${field} must be a 0x-prefixed 20-byte hex address`, { field });
  }
  return getAddress(value);
}

/** A single-use nonce for an EIP-4361 message, valid for a few minutes. */
export async function issueSiweNonce(deps: Deps): Promise<{ nonce: string; expiresAt: number; domain: string }> {
  const now = deps.clock.now();
  const nonce = generateSiweNonce();
  const expiresAt = now + deps.config.siwe.nonceTtlSeconds * 1000;
  await deps.db.query(sql`DELETE FROM siwe_nonces WHERE expires_at < ${ts(now - 86_400_000)}`);
  await deps.db.query(sql`INSERT INTO siwe_nonces (nonce, created_at, expires_at) VALUES (${nonce}, ${ts(now)}, ${ts(expiresAt)})`);
  return { nonce, expiresAt, domain: deps.config.siwe.domain };
}

/**
 * Verifies a signed EIP-4361 message: our domain, a nonce we issued that is unused and
 * unexpired (consumed atomically, so a message can never be replayed), the message's own
 * time bounds, and the signature of the address it names.
 */
export async function signInWithEthereum(deps: Deps, message: string, signature: string): Promise<Session> {
  if (typeof message !== 'string' || message.length > 4096) throw badInput('message must be an EIP-4361 message', { field: 'message' });
  if (!isHex(signature) || signature.length > 1000) throw badInput('signature must be 0x-prefixed hex', { field: 'signature' });
  const parsed = parseSiweMessage(message);
  if (!parsed.address || !parsed.nonce || !parsed.domain) throw badInput('message is not a valid EIP-4361 message', { field: 'message' });
  const now = deps.clock.now();
  const valid = validateSiweMessage({ message: parsed, domain: deps.config.siwe.domain, time: new Date(now) });
  if (!valid) throw unauthenticated('the sign-in message is for another domain, expired or not yet valid');
  const consumed = await deps.db.query(sql`
    UPDATE siwe_nonces SET used_at = ${ts(now)}
    WHERE nonce = ${parsed.nonce} AND used_at IS NULL AND expires_at > ${ts(now)}
    RETURNING nonce`);
  if (consumed.length === 0) throw unauthenticated('the nonce is unknown, already used or expired; ask for a new one');
  const address = getAddress(parsed.address);
  const ok = await verifyMessage({ address, message, signature }).catch(() => false);
  if (!ok) throw unauthenticated('the signature does not match the address in the message');
  await deps.db.query(sql`INSERT INTO users (address, created_at) VALUES (${address}, ${ts(now)}) ON CONFLICT (address) DO NOTHING`);
  const roles = rolesOf(deps, address);
  const iat = Math.floor(now / 1000);
  const token = jwt.sign({ roles, iat }, deps.config.jwt.secret, {
    algorithm: 'HS256',
    subject: address,
    expiresIn: deps.config.jwt.ttlSeconds,
    issuer: deps.config.jwt.issuer,
    audience: deps.config.jwt.audience,
  });
  return { token, expiresAt: (iat + deps.config.jwt.ttlSeconds) * 1000, account: { address, roles } };
}

/**
 * Sign-In with Ethereum on behalf of a key this process holds (demo people only): the same
 * nonce, EIP-4361 message, signature and verification as a wallet's sign-in.
 */
export async function signInWithKey(deps: Deps, privateKey: Hex, uri: string): Promise<Session> {
  const account = privateKeyToAccount(privateKey);
  const { nonce, domain } = await issueSiweNonce(deps);
  const message = createSiweMessage({ address: account.address, chainId: 1, domain, nonce, uri, version: '1', issuedAt: new Date(deps.clock.now()), statement: 'Sign in to the parametric cover marketplace (demo key).' });
  return signInWithEthereum(deps, message, await account.signMessage({ message }));
}

/**
 * Verifies a bearer token. Only HS256 with our key (or the previous key during a
 * rotation) is accepted, so unsigned (`alg: none`) and foreign tokens are refused. Roles
 * are re-derived from configuration, so removing an admin takes effect at once.
 */
export function verifySessionToken(deps: Deps, token: string): Viewer {
  const secrets = [deps.config.jwt.secret, deps.config.jwt.previousSecret].filter((s): s is string => Boolean(s));
  for (const secret of secrets) {
    try {
      const payload = jwt.verify(token, secret, {
        algorithms: ['HS256'],
        issuer: deps.config.jwt.issuer,
        audience: deps.config.jwt.audience,
        clockTimestamp: Math.floor(deps.clock.now() / 1000),
      });
      if (typeof payload !== 'object' || typeof payload.sub !== 'string' || !isAddress(payload.sub)) break;
      const address = getAddress(payload.sub);
      return { address, roles: rolesOf(deps, address) };
    } catch (error) {
      if (error instanceof jwt.TokenExpiredError) throw unauthenticated('the session has expired; sign in again');
    }
  }
  throw unauthenticated('the session token is invalid');
}

export function requireViewer(viewer: Viewer | null): Viewer {
  if (!viewer) throw unauthenticated('sign in with Ethereum first');
  return viewer;
}

export function requireAdmin(viewer: Viewer | null): Viewer {
  const v = requireViewer(viewer);
  if (!v.roles.includes('admin')) throw forbidden('this operation is for admins');
  return v;
}

/** The viewer may act for `address` if it is their own, or if they are an admin. */
export function resolveSubject(viewer: Viewer | null, address: string | null | undefined): string {
  const v = requireViewer(viewer);
  if (address == null) return v.address;
  const subject = normaliseAddress(address);
  if (subject !== v.address && !v.roles.includes('admin')) throw forbidden('you can only see your own account');
  return subject;
}
