import { type KeyObject, createHmac, createSecretKey, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { QuoteRecord } from '../domain/cover.ts';
import type { AppConfig } from './deps.ts';
import { newId } from './ids.ts';

/** What a firm quote promises, as its id carries it: everything a purchase needs of it. */
export type OfferTerms = Omit<QuoteRecord, 'id' | 'breakdown' | 'explanation'>;

const MAC_BYTES = 16;
const keyring = new WeakMap<AppConfig['jwt'], KeyObject[]>();

/**
 * The keys offers are signed with (the first) and checked against (any): derived from the
 * session secret and, during a rotation, the previous one (HKDF-SHA256, a label of their
 * own, so an offer's MAC is never a token's signature).
 */
function keysOf(jwt: AppConfig['jwt']): KeyObject[] {
  let keys = keyring.get(jwt);
  if (!keys) {
    // A KeyObject, not the key's bytes: an HMAC from raw bytes imports them again each time (7x slower here).
    const derive = (secret: string) => createSecretKey(Buffer.from(hkdfSync('sha256', secret, '', 'parametric-cover quote offer v1', 32)));
    keys = [jwt.secret, ...(jwt.previousSecret ? [jwt.previousSecret] : [])].map(derive);
    keyring.set(jwt, keys);
  }
  return keys;
}

const mac = (key: KeyObject, body: string) => createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES);

/**
 * A firm quote's id is a signed offer (docs/design.md §3): `quo_<uuid>.<terms>.<mac>`, the
 * terms base64url JSON, the MAC a truncated HMAC-SHA256 under a key derived from the session
 * secret. So the quote is answered before its row is written, and a purchase honours it even
 * if that row never was (the process died first): nothing the quote promises lives only in the
 * database. A forged or altered offer fails its MAC and reads as no quote; one signed with a
 * leaked key still buys only at the price the pool charges under its lock (a purchase prices
 * the cover again and never charges more than that or than the quote).
 */
export function offerId(jwt: AppConfig['jwt'], t: OfferTerms): string {
  const terms = [
    t.riskId,
    t.poolId,
    t.requester,
    t.amount.toString(),
    t.durationDays,
    t.exposure.toString(),
    t.premium.toString(),
    t.fee.toString(),
    t.createdAt,
    t.expiresAt,
  ];
  const body = `${newId('quo')}.${Buffer.from(JSON.stringify(terms)).toString('base64url')}`;
  return `${body}.${mac(keysOf(jwt)[0] as KeyObject, body).toString('base64url')}`;
}

const DECIMAL = /^\d{1,78}$/;

/** The terms an offer id carries, if its MAC holds under a current key; undefined for anything else (an old id, a forgery). */
export function readOffer(jwt: AppConfig['jwt'], id: string): OfferTerms | undefined {
  const dot = id.lastIndexOf('.');
  if (!id.startsWith('quo_') || dot < 0 || id.length > 2_000) return undefined;
  const body = id.slice(0, dot);
  const given = Buffer.from(id.slice(dot + 1), 'base64url');
  if (given.length !== MAC_BYTES || !keysOf(jwt).some((key) => timingSafeEqual(mac(key, body), given))) return undefined;
  let terms: unknown;
  try {
    terms = JSON.parse(Buffer.from(body.slice(body.indexOf('.') + 1), 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(terms) || terms.length !== 10) return undefined;
  const [riskId, poolId, requester, amount, durationDays, exposure, premium, fee, createdAt, expiresAt] = terms as unknown[];
  const decimals = [amount, exposure, premium, fee];
  if (
    typeof riskId !== 'string' ||
    typeof poolId !== 'string' ||
    (requester !== null && typeof requester !== 'string') ||
    !decimals.every((d) => typeof d === 'string' && DECIMAL.test(d)) ||
    ![durationDays, createdAt, expiresAt].every(Number.isSafeInteger)
  )
    return undefined;
  return {
    riskId,
    poolId,
    requester: requester as string | null,
    amount: BigInt(amount as string),
    durationDays: durationDays as number,
    exposure: BigInt(exposure as string),
    premium: BigInt(premium as string),
    fee: BigInt(fee as string),
    createdAt: createdAt as number,
    expiresAt: expiresAt as number,
  };
}
