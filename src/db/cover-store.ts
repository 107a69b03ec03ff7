import { type SQL, sql } from 'drizzle-orm';
import type { StoredExplanation } from '../domain/loss-model.ts';
import type { Executor } from './create-database.ts';
import { type PruneBounds, type Pruned, big, ms, num, pageOf, pruneInBatches, ts } from './sql-helpers.ts';
import type { PageRequest } from '../domain/page.ts';
import {
  type CoverAllocation,
  type PolicyAllocation,
  type PolicyRecord,
  type QuoteRecord,
  type QuoteWithPolicy,
  type StoredBreakdown,
  policyOfParts,
} from '../domain/cover.ts';
import { composeOffer, offerBody, offerKey, splitOffer } from '../domain/offer-id.ts';

interface QuoteRow {
  /** The offer's key (domain/offer-id.ts), or the whole id of a quote from before the offers. */
  id: string;
  /** The offer's MAC; null on a quote from before the offers. */
  mac: Buffer | null;
  risk_id: string;
  pool_id: string;
  requester: string | null;
  amount: string;
  duration_days: number;
  exposure: string;
  premium: string;
  fee: string;
  breakdown: StoredBreakdown;
  created_at: Date;
  expires_at: Date;
  distributor: string | null;
  commission_bps: number | null;
  allocations: StoredAllocation[] | null;
}

/** An allocation as stored in JSON (its figures as decimal strings). */
type StoredAllocation = { [K in keyof CoverAllocation]: string };

const storedAllocation = (a: CoverAllocation): StoredAllocation => ({
  poolId: a.poolId,
  riskId: a.riskId,
  amount: a.amount.toString(),
  exposure: a.exposure.toString(),
  premium: a.premium.toString(),
  fee: a.fee.toString(),
  ...(a.capitalFactor === undefined ? {} : { capitalFactor: a.capitalFactor }),
});

const readAllocation = (a: StoredAllocation): CoverAllocation => ({
  poolId: a.poolId,
  riskId: a.riskId,
  amount: big(a.amount),
  exposure: big(a.exposure),
  premium: big(a.premium),
  fee: big(a.fee),
  ...(a.capitalFactor === undefined ? {} : { capitalFactor: a.capitalFactor }),
});

/**
 * Stores model explanations that quotes name, as in use at `at`; one already stored keeps its
 * content (its id is the content's hash) and is marked in use.
 */
export async function insertExplanations(ex: Executor, explanations: readonly StoredExplanation[], at: number): Promise<void> {
  if (explanations.length === 0) return;
  const rows = explanations.map((e) => ({ id: e.id, explanation: e.terms }));
  await ex.query(sql`
    INSERT INTO model_explanations (id, explanation, used_at)
    SELECT id, explanation, ${ts(at)} FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS e(id text, explanation jsonb)
    ON CONFLICT (id) DO UPDATE SET used_at = GREATEST(model_explanations.used_at, EXCLUDED.used_at)`);
}

/** Explanations no quote names, not in use since `before`, are garbage: deleted a batch at a time (pruneInBatches). */
export async function deleteStaleExplanations(ex: Executor, before: number, bounds?: PruneBounds): Promise<Pruned> {
  return pruneInBatches(async (batch) => {
    const [r] = await ex.query<{ n: string }>(sql`
      WITH gone AS (
        DELETE FROM model_explanations WHERE id IN (
          SELECT e.id FROM model_explanations e WHERE e.used_at < ${ts(before)}
          AND NOT EXISTS (SELECT 1 FROM quotes q WHERE q.breakdown->>'explanationId' = e.id) LIMIT ${batch})
        RETURNING 1)
      SELECT count(*) AS n FROM gone`);
    return { seen: Number(r?.n ?? 0), deleted: Number(r?.n ?? 0) };
  }, bounds);
}

/**
 * How a statement writing quotes commits: `durable` waits for the WAL flush, as every
 * statement does; `unflushed` (synchronous_commit off for the statement's own transaction)
 * answers at once and is flushed within the WAL writer's next rounds (a few hundred ms). A
 * quote's row is a record, not a promise: the quote is its signed offer, and a purchase of a
 * quote whose row a crash lost recovers it from the offer (purchase-policy.ts). Never
 * `unflushed` inside a transaction that moves money: the setting holds to its commit.
 */
export type QuoteCommit = 'durable' | 'unflushed';

/** Stores quotes, many in one statement. */
export async function insertQuotes(ex: Executor, quotes: readonly QuoteRecord[], commit: QuoteCommit = 'durable'): Promise<void> {
  if (quotes.length === 0) return;
  await ex.query(quotesInsert(quotes, commit), { name: commit === 'durable' ? 'insert_quotes' : 'insert_quotes_unflushed' });
}

/** The quotes table's columns with their types, as the carried rows' JSON is read (quotesInsert). */
const QUOTE_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['id', 'text'],
  ['mac', 'bytea'],
  ['risk_id', 'text'],
  ['pool_id', 'text'],
  ['requester', 'text'],
  ['amount', 'numeric'],
  ['duration_days', 'integer'],
  ['exposure', 'numeric'],
  ['premium', 'numeric'],
  ['fee', 'numeric'],
  ['breakdown', 'jsonb'],
  ['created_at', 'timestamptz'],
  ['expires_at', 'timestamptz'],
  ['distributor', 'text'],
  ['commission_bps', 'integer'],
  ['allocations', 'jsonb'],
];
const QUOTE_COLUMN_LIST = sql.raw(QUOTE_COLUMNS.map(([c]) => c).join(', '));
const QUOTE_RECORD = sql.raw(QUOTE_COLUMNS.map(([c, type]) => `${c} ${type}`).join(', '));

/** Evaluated once as the INSERT runs: its transaction (the statement's own) then commits without the flush. */
const UNFLUSHED = sql`(SELECT set_config('synchronous_commit', 'off', true)) AS unflushed, `;

/**
 * The INSERT of `quotes`, to run alone or inside another statement as a data-modifying CTE.
 * Its text is the same for any number of quotes (they travel as one JSON parameter), so the
 * statement it is part of can be prepared once on the server, not planned per batch.
 *
 * A row is keyed by its offer's key and keeps the offer's MAC; the terms between them are the
 * row's own columns, so the id is put together again when the row is read (toQuote). Keyed
 * by the whole offer (about 270 characters), each row wrote twice the WAL and its key index
 * grew six times as large (bench/RESULTS.md).
 */
export function quotesInsert(quotes: readonly QuoteRecord[], commit: QuoteCommit = 'durable'): SQL {
  const rows = quotes.map((q) => ({
    id: offerKey(q.id),
    mac: macOf(q.id),
    risk_id: q.riskId,
    pool_id: q.poolId,
    requester: q.requester,
    amount: q.amount.toString(),
    duration_days: q.durationDays,
    exposure: q.exposure.toString(),
    premium: q.premium.toString(),
    fee: q.fee.toString(),
    breakdown: q.breakdown,
    created_at: new Date(q.createdAt).toISOString(),
    expires_at: new Date(q.expiresAt).toISOString(),
    distributor: q.distributor?.address ?? null,
    commission_bps: q.distributor?.commissionBps ?? null,
    allocations: q.allocations ? q.allocations.map(storedAllocation) : null,
  }));
  return sql`
    INSERT INTO quotes (${QUOTE_COLUMN_LIST})
    SELECT ${QUOTE_COLUMN_LIST} FROM ${commit === 'unflushed' ? UNFLUSHED : sql``}jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS q(${QUOTE_RECORD})
    ON CONFLICT (id) DO UPDATE SET breakdown = EXCLUDED.breakdown WHERE quotes.breakdown ? 'recoveredFromOffer'`;
}

/**
 * A quote's columns as read: its breakdown with the model's terms it names put back in
 * (quotes stored before keep theirs inline), so a quote reads the same however it was stored.
 */
const QUOTE_READ = sql`q.id, q.mac, q.risk_id, q.pool_id, q.requester, q.amount, q.duration_days, q.exposure, q.premium, q.fee,
  CASE WHEN e.explanation IS NULL THEN q.breakdown ELSE q.breakdown || e.explanation END AS breakdown, q.created_at, q.expires_at,
  q.distributor, q.commission_bps, q.allocations`;
const QUOTES_READ = sql`quotes q LEFT JOIN model_explanations e ON e.id = q.breakdown->>'explanationId'`;

/** The MAC of an offer id, as bytea's hex input; null for an id from before the offers. */
function macOf(id: string): string | null {
  const offer = splitOffer(id);
  return offer ? `\\x${offer.mac.toString('hex')}` : null;
}

/** The quote with this id: found by its key, and only if its whole id is the one given (an altered offer is no quote). */
export async function findQuote(ex: Executor, id: string): Promise<QuoteRecord | undefined> {
  return (await findQuoteForSale(ex, id))?.quote;
}

/**
 * The quote with this id (as `findQuote`) and whether a policy was bought with it, in one
 * statement: a sale reads both before its transaction (app/purchase-policy.ts).
 */
export async function findQuoteForSale(ex: Executor, id: string): Promise<{ quote: QuoteRecord; bought: boolean } | undefined> {
  const rows = await ex.query<QuoteRow & { bought: boolean }>(
    sql`SELECT ${QUOTE_READ}, EXISTS (SELECT 1 FROM policies p WHERE p.quote_id = ${id}) AS bought
      FROM ${QUOTES_READ} WHERE q.id = ${offerKey(id)}`,
    { prepare: true },
  );
  const row = rows[0];
  const quote = row && toQuote(row);
  return row && quote?.id === id ? { quote, bought: row.bought } : undefined;
}

function toQuote(r: QuoteRow): QuoteRecord {
  const terms = {
    riskId: r.risk_id,
    poolId: r.pool_id,
    requester: r.requester,
    amount: big(r.amount),
    durationDays: r.duration_days,
    exposure: big(r.exposure),
    premium: big(r.premium),
    fee: big(r.fee),
    createdAt: ms(r.created_at),
    expiresAt: ms(r.expires_at),
    // Absent, not null, without one: a quote reads back as it was priced.
    ...(r.distributor === null || r.commission_bps === null
      ? {}
      : { distributor: { address: r.distributor, commissionBps: r.commission_bps } }),
    ...(r.allocations ? { allocations: r.allocations.map(readAllocation) } : {}),
  };
  return { id: r.mac ? composeOffer(offerBody(r.id, terms), r.mac) : r.id, ...terms, breakdown: r.breakdown };
}

/** A requester's quotes, newest first, with the policy each became (null if not bought). */
export async function quotesOf(ex: Executor, requester: string, page: PageRequest): Promise<QuoteWithPolicy[]> {
  // A cursor names a quote by its id, or (given out before the rows were keyed) its whole offer.
  const after = page.after && { ...page.after, id: offerKey(page.after.id) };
  const p = pageOf(sql`q.created_at`, sql`q.id`, { ...page, after }, true);
  const rows = await ex.query<QuoteRow & { policy_id: string | null }>(sql`
    SELECT ${QUOTE_READ}, p.id AS policy_id FROM ${QUOTES_READ} LEFT JOIN policies p ON p.quote_key = q.id
    WHERE q.requester = ${requester} AND ${p.where} ORDER BY q.created_at DESC, q.id DESC ${p.limit}`);
  return rows.map((r) => ({ ...toQuote(r), policyId: r.policy_id }));
}

/**
 * Quotes that expired before `before` and were never bought are garbage. Pruned in order of
 * expiry from where the last run stopped (prune_marks), a batch at a time (pruneInBatches): a
 * bought quote is passed over once, not read again at every run (after a year, ten million
 * quotes are kept by their policies).
 */
export async function deleteStaleQuotes(ex: Executor, before: number, bounds?: PruneBounds): Promise<Pruned> {
  return pruneInBatches(async (batch) => {
    // The mark as PostgreSQL prints it: its microseconds kept.
    const [mark] = await ex.query<{ at: string; id: string }>(
      sql`SELECT upto_at::text AS at, upto_id AS id FROM prune_marks WHERE job = 'quotes'`,
    );
    const from = mark
      ? sql`AND q.expires_at >= ${mark.at}::timestamptz AND (q.expires_at, q.id) > (${mark.at}::timestamptz, ${mark.id})`
      : sql``;
    const [r] = await ex.query<{ seen: string; deleted: string }>(sql`
      WITH scanned AS (
        SELECT q.id, q.expires_at FROM quotes q WHERE q.expires_at < ${ts(before)} ${from}
        ORDER BY q.expires_at, q.id LIMIT ${batch}
      ), gone AS (
        DELETE FROM quotes q USING scanned s
        WHERE q.id = s.id AND NOT EXISTS (SELECT 1 FROM policies p WHERE p.quote_key = q.id) RETURNING 1
      ), moved AS (
        INSERT INTO prune_marks (job, upto_at, upto_id)
        SELECT 'quotes', expires_at, id FROM scanned ORDER BY expires_at DESC, id DESC LIMIT 1
        ON CONFLICT (job) DO UPDATE SET upto_at = EXCLUDED.upto_at, upto_id = EXCLUDED.upto_id RETURNING 1
      )
      SELECT (SELECT count(*) FROM scanned) AS seen, (SELECT count(*) FROM gone) AS deleted, (SELECT count(*) FROM moved) AS moved`);
    return { seen: Number(r?.seen ?? 0), deleted: Number(r?.deleted ?? 0) };
  }, bounds);
}

interface PolicyRow {
  id: string;
  quote_id: string;
  buyer: string;
  risk_id: string;
  pool_id: string;
  amount: string;
  exposure: string;
  premium: string;
  fee: string;
  skim: string;
  repayment: string;
  earning_rate_wad: string;
  earning_dust_wad: string;
  start_at: Date;
  covered_from: Date | null;
  end_at: Date;
  status: 'ACTIVE' | 'EXPIRED' | 'PAID';
  created_at: Date;
  paid: boolean;
  holder: string | null;
  transfers: string | number;
  minted_block?: string | null;
  renews?: string | null;
  renewed_by?: string | null;
  curator_fee?: string | null;
  /** The policy's other parts (leg rows naming it as their lead), null for a policy of one part. */
  legs: Array<StoredAllocation & { id: string; status: PolicyAllocation['status']; curatorFee: string }> | null;
}

/**
 * A policy (its lead row: `WHERE` it names `p`, and only leads are policies) with its paid
 * state, which is its payout row (migration 0008), not its status column, and its other parts.
 */
const POLICY = sql`SELECT p.*, EXISTS (SELECT 1 FROM payouts y WHERE y.policy_id = p.id) AS paid,
  (SELECT r.id FROM policies r WHERE r.renews = p.id) AS renewed_by,
  (SELECT COUNT(*) FROM policy_transfers t WHERE t.policy_id = p.id) AS transfers,
  (SELECT jsonb_agg(jsonb_build_object('id', l.id, 'poolId', l.pool_id, 'riskId', l.risk_id, 'amount', l.amount::text,
      'exposure', l.exposure::text, 'premium', l.premium::text, 'fee', l.fee::text, 'curatorFee', l.curator_fee::text,
      'status', CASE WHEN EXISTS (SELECT 1 FROM payouts y WHERE y.policy_id = l.id) THEN 'PAID' ELSE l.status END) ORDER BY l.id)
    FROM policies l WHERE p.parts > 1 AND l.id = ANY (${legIdsOf(sql`p`)})) AS legs
  FROM policies p`;

/**
 * The ids of the legs of the policy row `p` names (`<id>.1` to `<id>.<parts - 1>`): read by
 * primary key, so no index on lead_id is needed.
 */
export function legIdsOf(p: SQL): SQL {
  return sql`ARRAY(SELECT ${p}.id || '.' || g FROM generate_series(1, ${p}.parts - 1) g)`;
}

/** Only a lead row is a policy; its legs are its parts. */
const LEAD = sql`p.lead_id IS NULL`;

/** A policy (its lead row, and its legs read with it) as its holder sees it (domain/cover.ts policyOfParts). */
function toPolicy(r: PolicyRow): PolicyRecord {
  const lead = rowOf(r);
  const legs = (r.legs ?? []).map((l) => ({ ...readAllocation(l), id: l.id, status: l.status, curatorFee: big(l.curatorFee) }));
  return policyOfParts(lead, [{ ...lead, curatorFee: lead.curatorFee ?? 0n }, ...legs]);
}

const rowOf = (r: PolicyRow): PolicyRecord => ({
  id: r.id,
  quoteId: r.quote_id,
  buyer: r.buyer,
  riskId: r.risk_id,
  poolId: r.pool_id,
  amount: big(r.amount),
  exposure: big(r.exposure),
  premium: big(r.premium),
  fee: big(r.fee),
  skim: big(r.skim),
  repayment: big(r.repayment),
  earningRateWad: big(r.earning_rate_wad),
  earningDustWad: big(r.earning_dust_wad),
  startAt: ms(r.start_at),
  coveredFrom: ms(r.covered_from ?? r.start_at),
  endAt: ms(r.end_at),
  status: r.paid ? 'PAID' : r.status,
  createdAt: ms(r.created_at),
  holder: r.holder ?? r.buyer,
  transfers: Number(r.transfers ?? 0),
  minted: r.minted_block != null,
  renews: r.renews ?? null,
  curatorFee: big(r.curator_fee ?? '0'),
  renewedBy: r.renewed_by ?? null,
});

/**
 * The INSERT of a new policy's rows as a data-modifying CTE (`policy_row`), to run inside
 * another statement (a sale's journal entry): its lead, then its legs (each naming the lead, no
 * quote of its own), in one statement.
 */
export function policyInsertCte(lead: PolicyRecord, legs: readonly PolicyRecord[] = []): SQL {
  return sql`policy_row AS (${policyInsert(lead, legs)})`;
}

function policyInsert(lead: PolicyRecord, legs: readonly PolicyRecord[] = []): SQL {
  const row = (p: PolicyRecord, leadId: string | null) =>
    sql`(${p.id}, ${leadId === null ? p.quoteId : null}, ${leadId}, ${leadId === null ? 1 + legs.length : 1}, ${p.buyer}, ${p.riskId}, ${p.poolId}, ${num(p.amount)}, ${num(p.exposure)}, ${num(p.premium)},
      ${num(p.fee)}, ${num(p.skim)}, ${num(p.repayment)}, ${num(p.earningRateWad)}, ${num(p.earningDustWad)}, ${ts(p.startAt)},
      ${ts(p.coveredFrom)}, ${ts(p.endAt)}, ${p.status}, ${ts(p.createdAt)}, ${leadId === null ? (p.renews ?? null) : null}, ${num(p.curatorFee ?? 0n)})`;
  return sql`
    INSERT INTO policies (id, quote_id, lead_id, parts, buyer, risk_id, pool_id, amount, exposure, premium, fee, skim, repayment, earning_rate_wad,
      earning_dust_wad, start_at, covered_from, end_at, status, created_at, renews, curator_fee)
    VALUES ${sql.join([row(lead, null), ...legs.map((l) => row(l, lead.id))], sql`, `)}`;
}

export async function findPolicy(ex: Executor, id: string): Promise<PolicyRecord | undefined> {
  const rows = await ex.query<PolicyRow>(sql`${POLICY} WHERE p.id = ${id} AND ${LEAD}`);
  return rows[0] && toPolicy(rows[0]);
}

export async function findPolicyByQuote(ex: Executor, quoteId: string): Promise<PolicyRecord | undefined> {
  const rows = await ex.query<PolicyRow>(sql`${POLICY} WHERE p.quote_id = ${quoteId}`);
  return rows[0] && toPolicy(rows[0]);
}

/** The policies an account holds now (bought and kept, or received), newest first, a page at a time. */
export async function policiesOf(ex: Executor, holder: string, page: PageRequest): Promise<PolicyRecord[]> {
  const { where, limit } = pageOf(sql`p.created_at`, sql`p.id`, page, true);
  const rows = await ex.query<PolicyRow>(
    sql`${POLICY} WHERE ((p.buyer = ${holder} AND p.holder IS NULL) OR p.holder = ${holder}) AND ${LEAD} AND ${where}
      ORDER BY p.created_at DESC, p.id DESC ${limit}`,
  );
  return rows.map(toPolicy);
}

/** A policy locked for its transfer: a second transfer of it waits, and then sees the first. */
export async function lockPolicy(tx: Executor, id: string): Promise<PolicyRecord | undefined> {
  const rows = await tx.query<PolicyRow>(sql`${POLICY} WHERE p.id = ${id} AND ${LEAD} FOR UPDATE OF p`);
  return rows[0] && toPolicy(rows[0]);
}

/** Records a policy's transfer (its `seq`-th) and its new holder. */
export async function recordPolicyTransfer(
  tx: Executor,
  t: { policyId: string; seq: number; from: string; to: string; at: number; signature: string },
): Promise<void> {
  await tx.query(sql`
    INSERT INTO policy_transfers (policy_id, seq, from_address, to_address, at, signature)
    VALUES (${t.policyId}, ${t.seq}, ${t.from}, ${t.to}, ${ts(t.at)}, ${t.signature})`);
  await tx.query(sql`UPDATE policies SET holder = ${t.to} WHERE id = ${t.policyId}`);
}
