import { type Hex, isHex, recoverTypedDataAddress, verifyTypedData } from 'viem';
import { type FeedRecord, insertRejection, countRefusedSignature } from '../db/feed-store.ts';
import { Decimal } from '../domain/decimal.ts';
import { BaseError, badInput, conflict, forbidden, unauthenticated } from '../domain/errors.ts';
import { isDecimalString } from '../domain/money.ts';
import { pushDomain, pushMessage, pushTypes } from '../domain/push-typed-data.ts';
import type { Deps } from './deps.ts';
import { type Recorded, recordObservations } from './record-observations.ts';
import { getFeed } from './feeds.ts';

const MAX_BATCH = 1_000;

/**
 * Observations pushed by an integrator: accepted only with an EIP-712 signature of the exact
 * batch by the feed's registered reporter; stale, replayed or future times are refused.
 */
export async function submitObservations(
  deps: Deps,
  feedId: string,
  observations: ReadonlyArray<{ value: string; observedAt: number }>,
  signature: string,
): Promise<Recorded> {
  const feed = await getFeed(deps, feedId);
  if (feed.kind !== 'PUSH' || !feed.reporter) throw forbidden('observations can only be pushed to a PUSH feed');
  try {
    return await pushChecked(deps, feed, observations, signature);
  } catch (error) {
    // A refusal is kept for the integrator (Feed.rejections), with its reason; a fault is not
    // theirs. Only a submission the feed's reporter signed is theirs to see: a stranger's (a bad
    // signature) never writes into the reporter's log, nor pushes its entries out.
    if (error instanceof BaseError && (await signedByReporter(feed, observations, signature))) {
      const times = observations.map((o) => o.observedAt).filter((t) => Number.isSafeInteger(t));
      await insertRejection(deps.db, {
        feedId,
        at: deps.clock.now(),
        code: error.code,
        reason: error.message,
        observations: observations.length,
        firstObservedAt: times.length > 0 ? Math.min(...times) : null,
        lastObservedAt: times.length > 0 ? Math.max(...times) : null,
      }).catch((err: unknown) => deps.log.warn({ err, feedId }, 'could not record a rejected submission'));
    }
    throw error;
  }
}

/** Whether `signature` is the feed reporter's EIP-712 signature of this batch (false for anything malformed). */
async function signedByReporter(
  feed: FeedRecord,
  observations: ReadonlyArray<{ value: string; observedAt: number }>,
  signature: string,
): Promise<boolean> {
  if (!isHex(signature) || signature.length > 300) return false;
  try {
    return await verifyTypedData({
      address: feed.reporter as `0x${string}`,
      domain: pushDomain,
      types: pushTypes,
      primaryType: 'Observations',
      message: pushMessage(feed.id, observations),
      signature,
    });
  } catch {
    return false;
  }
}

/** A push after its feed is known: checked, verified against the reporter's signature, recorded. */
async function pushChecked(
  deps: Deps,
  feed: FeedRecord,
  observations: ReadonlyArray<{ value: string; observedAt: number }>,
  signature: string,
): Promise<Recorded> {
  const feedId = feed.id;
  if (observations.length < 1 || observations.length > MAX_BATCH)
    throw badInput(`send 1 to ${MAX_BATCH} observations`, { field: 'observations' });
  for (const [i, o] of observations.entries()) {
    if (!isDecimalString(o.value))
      throw badInput(`observations[${i}].value must be a decimal string`, { field: `observations[${i}].value` });
    if (o.observedAt % 1000 !== 0 || o.observedAt < 0)
      throw badInput(`observations[${i}].observedAt must be a whole second`, { field: `observations[${i}].observedAt` });
  }
  for (let i = 1; i < observations.length; i++) {
    if ((observations[i] as { observedAt: number }).observedAt <= (observations[i - 1] as { observedAt: number }).observedAt) {
      throw conflict('observations in a batch must be in strictly increasing time order', { feedId });
    }
  }
  if (!isHex(signature) || signature.length > 300) throw badInput('signature must be 0x-prefixed hex', { field: 'signature' });
  if (!(await signedByReporter(feed, observations, signature))) {
    const signer = await recoverTypedDataAddress({
      domain: pushDomain,
      types: pushTypes,
      primaryType: 'Observations',
      message: pushMessage(feed.id, observations),
      signature: signature as Hex,
    }).catch(() => null);
    await countRefusedSignature(deps.db, feed.id);
    deps.metrics.count('observations_refused', { kind: 'PUSH' }, observations.length);
    throw unauthenticated(
      `the batch is signed by ${signer ?? 'no recoverable key'}, not by the feed's reporter ${feed.reporter}: sign the typed data of docs/client.md (domain without chainId) with the reporter's key`,
      { expected: feed.reporter as string, ...(signer ? { recovered: signer } : {}) },
    );
  }
  return recordObservations(
    deps,
    feedId,
    observations.map((o) => ({
      value: new Decimal(o.value).toFixed(),
      observedAt: o.observedAt,
      source: { kind: 'PUSH', reporter: feed.reporter as string },
    })),
    true,
  );
}
