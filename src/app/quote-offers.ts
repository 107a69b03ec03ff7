import { type KeyObject, createHmac, createSecretKey, hkdfSync, timingSafeEqual } from 'node:crypto';
import { type OfferTerms, OFFER_MAC_BYTES, composeOffer, offerBody, splitOffer, termsOfBody } from '../domain/offer-id.ts';
import type { AppConfig } from './deps.ts';
import { newId } from '../db/ids.ts';

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

const mac = (key: KeyObject, body: string) => createHmac('sha256', key).update(body).digest().subarray(0, OFFER_MAC_BYTES);

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
  const body = offerBody(newId('quo'), t);
  return composeOffer(body, mac(keysOf(jwt)[0] as KeyObject, body));
}

/** The terms an offer id carries, if its MAC holds under a current key; undefined for anything else (an old id, a forgery). */
export function readOffer(jwt: AppConfig['jwt'], id: string): OfferTerms | undefined {
  const given = splitOffer(id);
  if (!given || !keysOf(jwt).some((key) => timingSafeEqual(mac(key, given.body), given.mac))) return undefined;
  return termsOfBody(given.body);
}
