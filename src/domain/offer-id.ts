import type { CoverAllocation, QuoteRecord } from './cover.ts';

/** What a firm quote promises, as its id carries it: everything a purchase needs of it. */
export type OfferTerms = Omit<QuoteRecord, 'id' | 'breakdown' | 'explanation'>;

/** The MAC's length in bytes: a truncated HMAC-SHA256 (app/quote-offers.ts signs it). */
export const OFFER_MAC_BYTES = 16;

/**
 * A firm quote's id is a signed offer, `<key>.<terms>.<mac>` (docs/design.md §3): the key is
 * `quo_<uuid>`, the terms are base64url JSON, the MAC is base64url. This module is its
 * encoding, with no secret: composing and taking apart. The row of a quote is stored under its
 * key, with its MAC (db/cover-store.ts), and its id is put together again from the row's terms.
 */
export function offerBody(key: string, t: OfferTerms): string {
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
    // A distributor's commission is part of the offer: it is signed with the price.
    ...(t.distributor ? [t.distributor.address, t.distributor.commissionBps] : []),
    // So are a routed cover's or a bundle's parts: each pool's amount and price.
    ...(t.allocations
      ? [
          t.allocations.map((a) => [
            a.riskId,
            a.poolId,
            a.amount.toString(),
            a.exposure.toString(),
            a.premium.toString(),
            a.fee.toString(),
            ...(a.capitalFactor === undefined ? [] : [a.capitalFactor]),
          ]),
        ]
      : []),
  ];
  return `${key}.${Buffer.from(JSON.stringify(terms)).toString('base64url')}`;
}

/** The offer id of a body (offerBody) and its MAC. */
export const composeOffer = (body: string, mac: Uint8Array): string => `${body}.${Buffer.from(mac).toString('base64url')}`;

/** The key an id is stored under: the part before its first dot (an id from before the offers is all key). */
export function offerKey(id: string): string {
  const dot = id.indexOf('.');
  return dot < 0 ? id : id.slice(0, dot);
}

/**
 * The longest offer id: a quote's terms are about 300 characters and each part of a routed cover
 * or a bundle adds about 200 at most, so a dozen parts fit. The bound is the policy row's: its
 * quote id is unique, and a b-tree entry holds at most 2,704 bytes (an id of 2,690 random
 * characters is indexed on PostgreSQL 15, one of 2,700 is not). A longer id is no offer, refused
 * before any parsing; a cover that would need one is refused at its quote.
 */
export const MAX_OFFER_ID = 2_680;
export const MAX_OFFER_PARTS = 12;

/** An offer id's parts as given (its MAC not checked): undefined for anything not shaped as one. */
export function splitOffer(id: string): { body: string; mac: Buffer } | undefined {
  const dot = id.lastIndexOf('.');
  if (!id.startsWith('quo_') || dot < 0 || id.length > MAX_OFFER_ID) return undefined;
  const mac = Buffer.from(id.slice(dot + 1), 'base64url');
  if (mac.length !== OFFER_MAC_BYTES) return undefined;
  return { body: id.slice(0, dot), mac };
}

const DECIMAL = /^\d{1,78}$/;

/** The terms of an offer's body (offerBody), if they are well formed; undefined for anything else. */
export function termsOfBody(body: string): OfferTerms | undefined {
  let terms: unknown;
  try {
    terms = JSON.parse(Buffer.from(body.slice(body.indexOf('.') + 1), 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(terms) || terms.length < 10 || terms.length > 13) return undefined;
  // Allocations, where present, are the last term (an array); a distributor is the two before.
  const last: unknown = terms[terms.length - 1];
  const parts = Array.isArray(last) ? allocationsOfTerms(last) : null;
  if (parts === undefined || (parts === null) !== (terms.length % 2 === 0)) return undefined;
  const withDistributor = terms.length - (parts ? 1 : 0) === 12;
  const [riskId, poolId, requester, amount, durationDays, exposure, premium, fee, createdAt, expiresAt, distributor, commissionBps] =
    terms as unknown[];
  if (withDistributor && (typeof distributor !== 'string' || !Number.isSafeInteger(commissionBps))) return undefined;
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
    ...(withDistributor ? { distributor: { address: distributor as string, commissionBps: commissionBps as number } } : {}),
    ...(parts ? { allocations: parts } : {}),
  };
}

/** An offer's allocations term, if well formed (at least two parts); undefined for anything else. */
function allocationsOfTerms(value: unknown[]): CoverAllocation[] | undefined {
  if (value.length < 2 || value.length > MAX_OFFER_PARTS) return undefined;
  const out: CoverAllocation[] = [];
  for (const part of value) {
    if (!Array.isArray(part) || (part.length !== 6 && part.length !== 7)) return undefined;
    const [riskId, poolId, ...rest] = part as unknown[];
    const figures = rest.slice(0, 4);
    const factor = rest[4];
    if (
      typeof riskId !== 'string' ||
      typeof poolId !== 'string' ||
      !figures.every((d) => typeof d === 'string' && DECIMAL.test(d)) ||
      (factor !== undefined && (typeof factor !== 'string' || !/^(0(\.\d{1,6})?|1)$/.test(factor)))
    )
      return undefined;
    const [amount, exposure, premium, fee] = (figures as string[]).map(BigInt) as [bigint, bigint, bigint, bigint];
    out.push({ riskId, poolId, amount, exposure, premium, fee, ...(factor === undefined ? {} : { capitalFactor: factor as string }) });
  }
  return out;
}
