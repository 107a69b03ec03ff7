import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { type PruneBounds, type Pruned, ms, pruneInBatches, ts } from './sql-helpers.ts';
import type { WebhookDeliveryRecord, WebhookEndpointRecord, WebhookEvent } from '../domain/webhook.ts';

export type { WebhookDeliveryRecord, WebhookEndpointRecord, WebhookEvent };

interface EndpointRow {
  id: string;
  owner: string;
  url: string;
  secret: string;
  events: WebhookEvent[] | string;
  created_at: unknown;
  failing_since: unknown;
  disabled_at: unknown;
  disabled_reason: string | null;
}

/** PGlite and node-postgres both parse text[]; a literal '{A,B}' is read by hand just in case. */
const eventsOf = (v: WebhookEvent[] | string): WebhookEvent[] =>
  Array.isArray(v)
    ? v
    : (v
        .replace(/^\{|\}$/g, '')
        .split(',')
        .filter(Boolean) as WebhookEvent[]);

const toEndpoint = (r: EndpointRow): WebhookEndpointRecord => ({
  id: r.id,
  owner: r.owner,
  url: r.url,
  secret: r.secret,
  events: eventsOf(r.events),
  createdAt: ms(r.created_at),
  failingSince: r.failing_since == null ? null : ms(r.failing_since),
  disabledAt: r.disabled_at == null ? null : ms(r.disabled_at),
  disabledReason: r.disabled_reason,
});

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  event: WebhookEvent;
  payload: Record<string, unknown>;
  status: 'PENDING' | 'DELIVERED' | 'FAILED';
  attempts: number;
  next_attempt_at: unknown;
  last_attempt_at: unknown;
  last_status: number | null;
  last_error: string | null;
  delivered_at: unknown;
  created_at: unknown;
}

const toDelivery = (r: DeliveryRow): WebhookDeliveryRecord => ({
  id: r.id,
  endpointId: r.endpoint_id,
  eventId: r.event_id,
  event: r.event,
  payload: r.payload,
  status: r.status,
  attempts: r.attempts,
  nextAttemptAt: ms(r.next_attempt_at),
  lastAttemptAt: r.last_attempt_at == null ? null : ms(r.last_attempt_at),
  lastStatus: r.last_status,
  lastError: r.last_error,
  deliveredAt: r.delivered_at == null ? null : ms(r.delivered_at),
  createdAt: ms(r.created_at),
});

export async function insertEndpoint(tx: Executor, e: WebhookEndpointRecord): Promise<void> {
  await tx.query(sql`INSERT INTO webhook_endpoints (id, owner, url, secret, events, created_at)
    VALUES (${e.id}, ${e.owner}, ${e.url}, ${e.secret}, ${`{${e.events.join(',')}}`}::text[], ${ts(e.createdAt)})`);
}

export async function countEndpoints(ex: Executor, owner: string): Promise<number> {
  const rows = await ex.query<{ n: string | number }>(
    sql`SELECT count(*) AS n FROM webhook_endpoints WHERE owner = ${owner} AND deleted_at IS NULL`,
  );
  return Number(rows[0]?.n ?? 0);
}

export async function endpointsOf(ex: Executor, owner: string): Promise<WebhookEndpointRecord[]> {
  const rows = await ex.query<EndpointRow>(
    sql`SELECT * FROM webhook_endpoints WHERE owner = ${owner} AND deleted_at IS NULL ORDER BY created_at, id`,
  );
  return rows.map(toEndpoint);
}

export async function findEndpoint(ex: Executor, id: string): Promise<WebhookEndpointRecord | undefined> {
  const rows = await ex.query<EndpointRow>(sql`SELECT * FROM webhook_endpoints WHERE id = ${id} AND deleted_at IS NULL`);
  return rows[0] && toEndpoint(rows[0]);
}

/** Deletes an endpoint: nothing more is sent to it (its pending deliveries fail). */
export async function deleteEndpoint(tx: Executor, id: string, at: number): Promise<void> {
  await tx.query(sql`UPDATE webhook_endpoints SET deleted_at = ${ts(at)} WHERE id = ${id}`);
  await tx.query(sql`UPDATE webhook_deliveries SET status = 'FAILED', last_error = 'the endpoint was deleted'
    WHERE endpoint_id = ${id} AND status = 'PENDING'`);
}

export async function deliveriesOf(ex: Executor, endpointId: string, limit: number): Promise<WebhookDeliveryRecord[]> {
  const rows = await ex.query<DeliveryRow>(
    sql`SELECT * FROM webhook_deliveries WHERE endpoint_id = ${endpointId} ORDER BY created_at DESC, id DESC LIMIT ${limit}`,
  );
  return rows.map(toDelivery);
}

/** How long a finished delivery (delivered, or failed for good) stays in its endpoint's log. */
export const DELIVERY_LOG_DAYS = 30;

/**
 * Finished deliveries created before `before` leave the log, a batch at a time (pruneInBatches):
 * the dispatcher rescans only the last few minutes of events, so none is sent again. Pending
 * ones stay until they are delivered or fail.
 */
export async function pruneDeliveries(ex: Executor, before: number, bounds?: PruneBounds): Promise<Pruned> {
  return pruneInBatches(async (batch) => {
    const [r] = await ex.query<{ n: string }>(sql`
      WITH gone AS (
        DELETE FROM webhook_deliveries WHERE id IN (
          SELECT id FROM webhook_deliveries WHERE status <> 'PENDING' AND created_at < ${ts(before)} LIMIT ${batch})
        RETURNING 1)
      SELECT count(*) AS n FROM gone`);
    return { seen: Number(r?.n ?? 0), deleted: Number(r?.n ?? 0) };
  }, bounds);
}

/** Where the last scan ended (null before the first). */
export async function scannedTo(ex: Executor): Promise<number | null> {
  const rows = await ex.query<{ scanned_to: unknown }>(sql`SELECT scanned_to FROM webhook_scan WHERE id = 1`);
  return rows[0] ? ms(rows[0].scanned_to) : null;
}

export async function setScannedTo(tx: Executor, at: number): Promise<void> {
  await tx.query(sql`INSERT INTO webhook_scan (id, scanned_to) VALUES (1, ${ts(at)})
    ON CONFLICT (id) DO UPDATE SET scanned_to = GREATEST(webhook_scan.scanned_to, EXCLUDED.scanned_to)`);
}

/**
 * Turns what happened in [from, to) into deliveries for the endpoints that asked for it: a risk's
 * state and an incident to every such endpoint, a payout and a withdrawal that became completable
 * only to their owner's. An event reaches endpoints registered before it; a delivery is made
 * once per endpoint and event whatever overlaps the scans have. Returns the deliveries added.
 */
export async function enqueueEvents(tx: Executor, from: number, to: number, now: number): Promise<number> {
  // Only the sources someone listens to are read: with no endpoint, a scan reads nothing.
  const wanted = await tx.query<{ event: WebhookEvent }>(
    sql`SELECT DISTINCT unnest(events) AS event FROM webhook_endpoints WHERE deleted_at IS NULL`,
  );
  const f = ts(from);
  const t = ts(to);
  const sources: Record<Exclude<WebhookEvent, 'TEST'>, ReturnType<typeof sql>> = {
    RISK_STATE: sql`
      SELECT 'RISK_STATE' AS event, 'risk_event:' || e.id AS event_id, NULL::text AS owner, e.created_at AS at,
        jsonb_build_object('riskId', e.risk_id, 'risk', r.name, 'state', e.state, 'value', e.value::text, 'at', e.at) AS payload
      FROM risk_events e JOIN risks r ON r.id = e.risk_id WHERE e.created_at >= ${f} AND e.created_at < ${t}`,
    INCIDENT: sql`
      SELECT 'INCIDENT' AS event, 'incident:' || i.id || ':CONFIRMED' AS event_id, NULL::text AS owner, i.created_at AS at,
        jsonb_build_object('incidentId', i.id, 'riskId', i.risk_id, 'status', 'CONFIRMED', 'payoutRatio', i.payout_ratio::text, 'at', i.created_at) AS payload
      FROM incidents i WHERE i.created_at >= ${f} AND i.created_at < ${t}
      UNION ALL
      SELECT 'INCIDENT' AS event, 'incident:' || i.id || ':SETTLED' AS event_id, NULL::text AS owner, i.settled_at AS at,
        jsonb_build_object('incidentId', i.id, 'riskId', i.risk_id, 'status', 'SETTLED', 'totalDue', i.total_due::text,
          'totalPaid', i.total_paid::text, 'policiesPaid', i.policies_paid, 'at', i.settled_at) AS payload
      FROM incidents i WHERE i.settled_at >= ${f} AND i.settled_at < ${t}`,
    PAYOUT: sql`
      SELECT 'PAYOUT' AS event, 'payout:' || y.policy_id AS event_id, y.buyer AS owner, y.created_at AS at,
        jsonb_build_object('policyId', split_part(y.policy_id, '.', 1), 'incidentId', y.incident_id, 'poolId', y.pool_id, 'holder', y.buyer,
          'due', y.due::text, 'paid', y.paid::text, 'at', y.created_at) AS payload
      FROM payouts y WHERE y.created_at >= ${f} AND y.created_at < ${t}
        AND y.buyer IN (SELECT owner FROM webhook_endpoints WHERE deleted_at IS NULL AND 'PAYOUT' = ANY (events))`,
    WITHDRAWAL_READY: sql`
      SELECT 'WITHDRAWAL_READY' AS event, 'withdrawal_ready:' || w.id AS event_id, w.owner AS owner, w.available_at AS at,
        jsonb_build_object('requestId', w.id, 'poolId', w.pool_id, 'tranche', w.tranche, 'shares', w.shares::text,
          'valueAtRequest', w.value_at_request::text, 'availableAt', w.available_at) AS payload
      FROM withdrawal_requests w WHERE w.status = 'PENDING' AND w.available_at >= ${f} AND w.available_at < ${t}`,
  };
  const parts = wanted.map((w) => (w.event === 'TEST' ? undefined : sources[w.event])).filter(Boolean);
  if (parts.length === 0) return 0;
  const rows = await tx.query<{ n: string | number }>(sql`
    WITH events AS (${sql.join(parts, sql` UNION ALL `)}), added AS (
      INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event, payload, status, next_attempt_at, created_at)
      SELECT 'whd_' || md5(x.id || ':' || ev.event_id), x.id, ev.event_id, ev.event,
        ev.payload || jsonb_build_object('event', ev.event, 'eventId', ev.event_id), 'PENDING', ${ts(now)}, ${ts(now)}
      FROM events ev JOIN webhook_endpoints x ON x.deleted_at IS NULL AND x.disabled_at IS NULL AND ev.event = ANY (x.events)
        AND x.created_at <= ev.at AND (ev.owner IS NULL OR ev.owner = x.owner)
      ON CONFLICT (endpoint_id, event_id) DO NOTHING
      RETURNING 1
    )
    SELECT count(*) AS n FROM added`);
  return Number(rows[0]?.n ?? 0);
}

/** A delivery made by hand (a TEST its owner asked for), due now. */
export async function insertDelivery(tx: Executor, d: WebhookDeliveryRecord): Promise<void> {
  await tx.query(sql`
    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event, payload, status, next_attempt_at, created_at)
    VALUES (${d.id}, ${d.endpointId}, ${d.eventId}, ${d.event}, ${JSON.stringify(d.payload)}::jsonb, ${d.status}, ${ts(d.nextAttemptAt)}, ${ts(d.createdAt)})`);
}

/**
 * Claims up to `limit` deliveries that are due, for `leaseMs` (another dispatcher skips them
 * meanwhile): their attempt is counted now, so a dispatcher that dies mid-send retries later.
 * Fairly: endpoints that answer first, then those failing (one delivery each a turn); among
 * them one delivery of every account in turn before a second of any, and at most ten of one
 * endpoint. An account's hanging endpoints never queue ahead of another account's healthy one.
 */
export async function claimDue(
  tx: Executor,
  now: number,
  leaseMs: number,
  limit: number,
): Promise<Array<WebhookDeliveryRecord & { url: string; secret: string; failing: boolean }>> {
  const rows = await tx.query<DeliveryRow & { url: string; secret: string; failing_since: unknown; turn: string | number }>(sql`
    WITH ranked AS (
      SELECT d.id, d.next_attempt_at, x.failing_since IS NOT NULL AS failing,
        row_number() OVER (PARTITION BY x.owner ORDER BY d.next_attempt_at, d.id) AS per_owner,
        row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS per_endpoint
      FROM webhook_deliveries d JOIN webhook_endpoints x ON x.id = d.endpoint_id
      WHERE d.status = 'PENDING' AND d.next_attempt_at <= ${ts(now)} AND x.disabled_at IS NULL
    ), picked AS (
      SELECT id, row_number() OVER (ORDER BY failing, per_owner, next_attempt_at, id) AS turn FROM ranked
      WHERE per_endpoint <= CASE WHEN failing THEN 1 ELSE 10 END
      ORDER BY turn LIMIT ${limit}
    ), due AS (
      SELECT d.id FROM webhook_deliveries d WHERE d.id IN (SELECT id FROM picked) AND d.status = 'PENDING'
      FOR UPDATE SKIP LOCKED
    )
    UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = ${ts(now)}, next_attempt_at = ${ts(now + leaseMs)}
    FROM due, picked, webhook_endpoints x WHERE d.id = due.id AND picked.id = d.id AND x.id = d.endpoint_id
    RETURNING d.*, x.url, x.secret, x.failing_since, picked.turn`);
  // Sent in the fair order (an UPDATE returns its rows in no particular one).
  return rows
    .sort((a, b) => Number(a.turn) - Number(b.turn))
    .map((r) => ({ ...toDelivery(r), url: r.url, secret: r.secret, failing: r.failing_since != null }));
}

/** What an attempt came to: delivered, or failed with its status or error and when to try again (null: given up). */
export async function recordAttempt(
  tx: Executor,
  id: string,
  result: { ok: boolean; status: number | null; error: string | null; at: number; retryAt: number | null },
  endpoint?: { id: string; disableAfterMs: number },
): Promise<void> {
  if (endpoint) await recordHealth(tx, endpoint.id, result, endpoint.disableAfterMs);
  await tx.query(sql`UPDATE webhook_deliveries SET
      status = ${result.ok ? 'DELIVERED' : result.retryAt === null ? 'FAILED' : 'PENDING'},
      last_status = ${result.status}, last_error = ${result.error},
      delivered_at = ${result.ok ? ts(result.at) : null},
      next_attempt_at = ${ts(result.retryAt ?? result.at)}
    WHERE id = ${id} AND status = 'PENDING'`);
}

/**
 * An endpoint's health after an attempt: healthy again once one is delivered; failing since its
 * first failure otherwise; disabled, with the reason, once failing for `disableAfterMs` (its
 * pending deliveries fail with it).
 */
async function recordHealth(
  tx: Executor,
  endpointId: string,
  result: { ok: boolean; error: string | null; at: number },
  disableAfterMs: number,
): Promise<void> {
  if (result.ok) {
    await tx.query(sql`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ${endpointId} AND failing_since IS NOT NULL`);
    return;
  }
  const [row] = await tx.query<{ failing_since: unknown }>(sql`
    UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ${ts(result.at)}) WHERE id = ${endpointId}
    RETURNING failing_since`);
  if (!row || ms(row.failing_since) > result.at - disableAfterMs) return;
  const reason = `disabled: every attempt failed since ${new Date(ms(row.failing_since)).toISOString()} (last: ${result.error ?? 'no answer'})`;
  await tx.query(sql`UPDATE webhook_endpoints SET disabled_at = ${ts(result.at)}, disabled_reason = ${reason}
    WHERE id = ${endpointId} AND disabled_at IS NULL`);
  await tx.query(sql`UPDATE webhook_deliveries SET status = 'FAILED', last_error = ${reason}
    WHERE endpoint_id = ${endpointId} AND status = 'PENDING'`);
}

/** The owner's test (testWebhook) turns a disabled endpoint on again, as if new. */
export async function enableEndpoint(tx: Executor, id: string): Promise<void> {
  await tx.query(sql`UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, failing_since = NULL WHERE id = ${id}`);
}
