import { createHmac, randomBytes } from 'node:crypto';
import { createSafeFetch, hostAllowed } from '../chain/safe-fetch.ts';
import {
  type WebhookDeliveryRecord,
  type WebhookEndpointRecord,
  type WebhookEvent,
  claimDue,
  countEndpoints,
  deleteEndpoint,
  deliveriesOf,
  enableEndpoint,
  endpointsOf,
  enqueueEvents,
  findEndpoint,
  insertDelivery,
  insertEndpoint,
  recordAttempt,
  scannedTo,
  setScannedTo,
} from '../db/webhook-store.ts';
import { badInput, notFound, rateLimited } from '../domain/errors.ts';
import type { Deps } from './deps.ts';
import { newId } from '../db/ids.ts';
import { type Viewer, requireViewer } from './viewer.ts';

/**
 * Webhooks (issue 59): an account registers endpoints for events (a payout to it, an incident,
 * its withdrawal ready to complete, a risk's state); each delivery is a POST of JSON signed
 * with the endpoint's secret (HMAC-SHA256 over "timestamp.body", Stripe's scheme, so a receiver
 * refuses a replay older than its tolerance), retried with backoff, and kept with its last
 * attempts. Deliveries come from the database's own records, scanned after their commit by a
 * dispatcher every API process runs: the request that caused an event never waits on one.
 */

export const WEBHOOK_EVENTS: readonly WebhookEvent[] = ['PAYOUT', 'INCIDENT', 'WITHDRAWAL_READY', 'RISK_STATE'];
/** Endpoints one account may have. */
export const MAX_ENDPOINTS = 10;
/** Attempts before a delivery is given up (FAILED): about a day of backoff. */
export const MAX_ATTEMPTS = 10;
/** How long an attempt may take; the claim outlives it so no two dispatchers send at once. */
const ATTEMPT_TIMEOUT_MS = 5_000;
/** An endpoint that is failing gets less of a turn: it cannot hold the dispatcher as long. */
const FAILING_TIMEOUT_MS = 2_000;
/** An endpoint whose every attempt failed for a day is disabled (its owner's testWebhook turns it on again). */
export const DISABLE_AFTER_MS = 86_400_000;
const LEASE_MS = 30_000;
/** A scan starts this long before the last one ended: a row committed late, with an earlier time, is still seen. */
const SCAN_OVERLAP_MS = 10 * 60_000;
/** The first scan looks back this far. */
const FIRST_SCAN_MS = 3_600_000;

/** The wait before attempt n+1 after n failed: 10 s doubling, at most 3 hours, with ±20% jitter. */
export function backoffMs(attempts: number, random = Math.random): number {
  const base = Math.min(10_000 * 2 ** Math.max(0, attempts - 1), 3 * 3_600_000);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** The signature header of a body sent at `timestamp` (unix seconds): `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "t.body")>`. */
export function signatureHeader(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What an endpoint must be: http(s); outside development, https to a public address (no loopback or private network). */
function checkUrl(deps: Deps, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badInput('url must be an absolute http(s) URL', { field: 'url' });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badInput('url must be http(s)', { field: 'url' });
  if (url.username || url.password) throw badInput('url must not carry credentials', { field: 'url' });
  if (text.length > 2_000) throw badInput('url must be at most 2,000 characters', { field: 'url' });
  if (deps.config.webhooks.guarded) {
    if (url.protocol !== 'https:') throw badInput('url must be https', { field: 'url' });
    if (!hostAllowed(url, deps.config.webhooks.allowedHosts))
      throw badInput(`${url.hostname} is a loopback or private address: webhooks go to public endpoints`, { field: 'url' });
  }
  return url.toString();
}

export async function registerWebhook(
  deps: Deps,
  viewer: Viewer | null,
  input: { url: string; events: readonly string[] },
): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
  const owner = requireViewer(viewer).address;
  const url = checkUrl(deps, input.url);
  const events = [...new Set(input.events)];
  if (events.length === 0) throw badInput('name at least one event', { field: 'events' });
  for (const e of events)
    if (!WEBHOOK_EVENTS.includes(e as WebhookEvent))
      throw badInput(`unknown event ${e} (${WEBHOOK_EVENTS.join(', ')})`, { field: 'events' });
  const secret = `whsec_${randomBytes(32).toString('hex')}`;
  const endpoint: WebhookEndpointRecord = {
    id: newId('whk'),
    owner,
    url,
    secret,
    events: events as WebhookEvent[],
    createdAt: deps.clock.now(),
  };
  await deps.db.transaction(async (tx) => {
    if ((await countEndpoints(tx, owner)) >= MAX_ENDPOINTS)
      throw rateLimited(`an account has at most ${MAX_ENDPOINTS} webhook endpoints; delete one first`, { maximum: MAX_ENDPOINTS });
    await insertEndpoint(tx, endpoint);
  });
  return { endpoint, secret };
}

export async function deleteWebhook(deps: Deps, viewer: Viewer | null, id: string): Promise<boolean> {
  const owner = requireViewer(viewer).address;
  return deps.db.transaction(async (tx) => {
    const found = await findEndpoint(tx, id);
    if (!found || found.owner !== owner) throw notFound(`no webhook endpoint ${id}`);
    await deleteEndpoint(tx, id, deps.clock.now());
    return true;
  });
}

/** A TEST event to one of the viewer's endpoints, due now: the dispatcher signs and sends it as any event. */
export async function testWebhook(deps: Deps, viewer: Viewer | null, id: string): Promise<WebhookDeliveryRecord> {
  const owner = requireViewer(viewer).address;
  const now = deps.clock.now();
  return deps.db.transaction(async (tx) => {
    const found = await findEndpoint(tx, id);
    if (!found || found.owner !== owner) throw notFound(`no webhook endpoint ${id}`);
    // A test is the owner saying the endpoint is fixed: a disabled one is on again.
    if (found.disabledAt) await enableEndpoint(tx, id);
    const eventId = newId('evt');
    const delivery: WebhookDeliveryRecord = {
      id: newId('whd'),
      endpointId: id,
      eventId,
      event: 'TEST',
      payload: { event: 'TEST', eventId, endpointId: id, at: new Date(now).toISOString() },
      status: 'PENDING',
      attempts: 0,
      nextAttemptAt: now,
      lastAttemptAt: null,
      lastStatus: null,
      lastError: null,
      deliveredAt: null,
      createdAt: now,
    };
    await insertDelivery(tx, delivery);
    return delivery;
  });
}

export function webhooksOf(deps: Deps, viewer: Viewer | null): Promise<WebhookEndpointRecord[]> {
  return endpointsOf(deps.db, requireViewer(viewer).address);
}

export function recentDeliveries(deps: Deps, endpointId: string, first: number): Promise<WebhookDeliveryRecord[]> {
  return deliveriesOf(deps.db, endpointId, Math.min(Math.max(Math.trunc(first), 1), 100));
}

type Post = (
  url: string,
  init: { method: 'POST'; headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<{ status: number }>;

/** The dispatcher's HTTP client: outside development it reaches public addresses only, checked after DNS. */
export function webhookPoster(deps: Deps): Post {
  if (!deps.config.webhooks.guarded) return (url, init) => fetch(url, { ...init, redirect: 'manual' });
  const safe = createSafeFetch(deps.config.webhooks.allowedHosts);
  return (url, init) => safe(url, init);
}

/** One turn of the dispatcher: new events into deliveries, then the deliveries that are due. */
export async function dispatchWebhooks(
  deps: Deps,
  post: Post = webhookPoster(deps),
): Promise<{ queued: number; sent: number; failed: number }> {
  const now = deps.clock.now();
  const queued = await deps.db.transaction(async (tx) => {
    const last = await scannedTo(tx);
    const n = await enqueueEvents(tx, (last ?? now - FIRST_SCAN_MS) - SCAN_OVERLAP_MS, now + 1, now);
    await setScannedTo(tx, now);
    return n;
  });
  const due = await deps.db.transaction((tx) => claimDue(tx, now, LEASE_MS, 100));
  let sent = 0;
  let failed = 0;
  // Outside any transaction: an endpoint's slowness holds no lock.
  await Promise.all(
    due.map(async (d) => {
      const body = JSON.stringify({ id: d.id, event: d.event, eventId: d.eventId, attempt: d.attempts, data: d.payload });
      const timestamp = Math.floor(deps.clock.now() / 1000);
      let status: number | null = null;
      let error: string | null = null;
      try {
        const res = await post(d.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'parametric-cover-webhooks/1',
            'x-cover-event': d.event,
            'x-cover-delivery': d.id,
            'x-cover-signature': signatureHeader(d.secret, timestamp, body),
          },
          body,
          signal: AbortSignal.timeout(d.failing ? FAILING_TIMEOUT_MS : ATTEMPT_TIMEOUT_MS),
        });
        status = res.status;
        if (status < 200 || status >= 300) error = `the endpoint answered HTTP ${status}`;
      } catch (e) {
        error = e instanceof Error ? e.message.slice(0, 300) : 'the request failed';
      }
      const ok = error === null;
      const at = deps.clock.now();
      const retryAt = ok || d.attempts >= MAX_ATTEMPTS ? null : at + backoffMs(d.attempts);
      await deps.db.transaction((tx) =>
        recordAttempt(tx, d.id, { ok, status, error, at, retryAt }, { id: d.endpointId, disableAfterMs: DISABLE_AFTER_MS }),
      );
      if (ok) sent++;
      else failed++;
      deps.metrics.count('webhook_deliveries', { result: ok ? 'delivered' : retryAt === null ? 'failed' : 'retrying' });
    }),
  );
  return { queued, sent, failed };
}
