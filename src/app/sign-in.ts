import { randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { type Hex, getAddress, isHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage, parseSiweMessage } from 'viem/siwe';
import { consumeNonce, insertNonce, keyProven, markKeyProven, upsertUser } from '../db/session-store.ts';
import { badInput, rateLimited, unauthenticated, unavailable } from '../domain/errors.ts';
import { type Signable, accountSigned, contractWalletSigned } from '../chain/signatures.ts';
import type { Deps } from './deps.ts';
import { type Viewer, rolesOf } from './viewer.ts';

/** A person whose key this process holds (`npm run demo` only), e.g. "buyer-0". */
export interface DemoPerson {
  name: string;
  address: string;
  privateKey: Hex;
}

/**
 * `npm run demo` only: money for a newcomer's own wallet to try the market with, once per
 * address: `credited` to their wallet on the platform and, with money on chain, `inWallet`
 * test tokens (and gas) in their chain wallet to deposit from.
 */
export type DemoFaucet = (address: string) => Promise<{ credited: bigint; inWallet: bigint; alreadyFunded: boolean }>;

export interface Session {
  token: string;
  expiresAt: number;
  account: Viewer;
}

/** A single-use nonce for an EIP-4361 message, valid for a few minutes, from a CSPRNG. */
export async function issueSiweNonce(
  deps: Deps,
  requestedBy: string,
): Promise<{ nonce: string; expiresAt: number; domain: string; domains: readonly string[] }> {
  const now = deps.clock.now();
  // 128 bits from the CSPRNG; hex is alphanumeric, as EIP-4361 requires.
  const nonce = randomBytes(16).toString('hex');
  const { siwe } = deps.config;
  const expiresAt = now + siwe.nonceTtlSeconds * 1000;
  if (!(await insertNonce(deps.db, { nonce, requestedBy, at: now, expiresAt }, siwe.maxOpenNonces))) {
    throw rateLimited(`too many open sign-in nonces from this client (at most ${siwe.maxOpenNonces}); use one or wait for them to expire`);
  }
  return { nonce, expiresAt, domain: siwe.domains[0] as string, domains: siwe.domains };
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Why a parsed EIP-4361 message cannot sign in here, or null: one of our domains, a URI on
 * that domain, an accepted chain, and times around now (issued within the nonce's life and
 * the clock skew, not expired, not before its notBefore). Each case says what is wrong.
 */
function siweProblem(deps: Deps, m: ReturnType<typeof parseSiweMessage>, now: number): string | null {
  const { siwe } = deps.config;
  if (!siwe.domains.includes(m.domain as string)) return `the message is for ${m.domain}, not this site (${siwe.domains.join(', ')})`;
  let uri: URL;
  try {
    uri = new URL(m.uri as string);
  } catch {
    return 'the message URI is not a URL';
  }
  if (uri.host !== m.domain || (uri.protocol !== 'http:' && uri.protocol !== 'https:'))
    return `the message URI must be this site's origin (http(s)://${m.domain})`;
  if (!siwe.chainIds.includes(m.chainId as number))
    return `chain ${m.chainId} is not accepted for sign-in (accepted: ${siwe.chainIds.join(', ')})`;
  const skew = siwe.clockSkewSeconds * 1000;
  const issued = (m.issuedAt as Date).getTime();
  if (issued > now + skew) return `the message is not yet valid: issued at ${iso(issued)}, in the future`;
  if (issued < now - siwe.nonceTtlSeconds * 1000 - skew) return `the message has expired: issued at ${iso(issued)}, sign a new one`;
  if (m.expirationTime && m.expirationTime.getTime() <= now) return `the message has expired at ${iso(m.expirationTime.getTime())}`;
  if (m.notBefore && m.notBefore.getTime() > now + skew) return `the message is not yet valid: not before ${iso(m.notBefore.getTime())}`;
  return null;
}

/**
 * Whether `address` signed: an EOA's signature (recovered offline), else the address's
 * contract wallet says so (ERC-1271; ERC-6492 for a wallet not deployed yet) on one of
 * `chains` (chain id and its configured RPC). A chain that does not answer within
 * CHAIN_READ_TIMEOUT_MS is an outage (UNAVAILABLE, retry), not a refusal. An address that has
 * signed with its own key before is no contract wallet: a signature that does not recover to it
 * is refused without a chain call (a stranger's bogus signatures cost nothing and cannot be
 * held on a hung node). (An EIP-7702 account that delegates to a wallet accepting other keys is
 * the exception this gives up: its own key still signs.) Never called inside a database
 * transaction (app/wire.ts refuses it).
 */
export async function signedBy(
  deps: Deps,
  chains: Iterable<readonly [number, string]>,
  address: Hex,
  signed: Signable,
  signature: Hex,
): Promise<boolean> {
  if (await accountSigned(address, signed, signature)) {
    await markKeyProven(deps.db, getAddress(address), deps.clock.now());
    return true;
  }
  if (await keyProven(deps.db, getAddress(address))) return false;
  for (const [chainId, rpcUrl] of chains) {
    try {
      if (await contractWalletSigned(rpcUrl, address, signed, signature, deps.config.chainReadTimeoutMs)) return true;
    } catch (error) {
      deps.log.warn({ err: error, chainId }, 'could not ask a contract wallet for its signature');
      throw unavailable(`chain ${chainId} could not be reached to check a contract wallet's signature; try again`, { chainId });
    }
  }
  return false;
}

/**
 * Verifies a signed EIP-4361 message (see siweProblem), then the signature of the address
 * it names, and only then consumes its nonce (atomically, so it can never be replayed): a
 * junk signature cannot burn someone else's sign-in.
 */
export async function signInWithEthereum(deps: Deps, message: string, signature: string): Promise<Session> {
  if (typeof message !== 'string' || message.length > 4096) throw badInput('message must be an EIP-4361 message', { field: 'message' });
  if (!isHex(signature) || signature.length > 1000) throw badInput('signature must be 0x-prefixed hex', { field: 'signature' });
  const parsed = parseSiweMessage(message);
  if (
    !parsed.address ||
    !parsed.nonce ||
    !parsed.domain ||
    !parsed.uri ||
    parsed.chainId === undefined ||
    !parsed.issuedAt ||
    parsed.version !== '1'
  ) {
    throw badInput(
      'message is not a valid EIP-4361 message (domain, address, URI, version 1, chain ID, nonce and issued-at are required)',
      { field: 'message' },
    );
  }
  const now = deps.clock.now();
  const problem = siweProblem(deps, parsed, now);
  if (problem) throw unauthenticated(problem);
  const address = getAddress(parsed.address);
  // A contract wallet is asked on the chain its message names, and only there.
  const chain = deps.config.siwe.rpcUrls.get(parsed.chainId);
  if (!(await signedBy(deps, chain ? [[parsed.chainId, chain]] : [], address, { message }, signature)))
    throw unauthenticated('the signature does not match the address in the message');
  if (!(await consumeNonce(deps.db, parsed.nonce, now)))
    throw unauthenticated('the nonce is unknown, already used or expired; ask for a new one');
  const version = await upsertUser(deps.db, address, now);
  const roles = rolesOf(deps, address);
  const iat = Math.floor(now / 1000);
  const token = jwt.sign({ roles, iat, sv: version }, deps.config.jwt.secret, {
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
export async function signInWithKey(deps: Deps, privateKey: Hex, origin: string, requestedBy: string): Promise<Session> {
  const account = privateKeyToAccount(privateKey);
  const { nonce } = await issueSiweNonce(deps, requestedBy);
  const uri = new URL(origin);
  const message = createSiweMessage({
    address: account.address,
    chainId: deps.config.siwe.chainIds[0] as number,
    domain: uri.host,
    nonce,
    uri: uri.origin,
    version: '1',
    issuedAt: new Date(deps.clock.now()),
    statement: 'Sign in to the parametric cover marketplace (demo key).',
  });
  return signInWithEthereum(deps, message, await account.signMessage({ message }));
}
