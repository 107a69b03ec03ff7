import { sql } from 'drizzle-orm';
import { repayDraws } from '../db/backstop-store.ts';
import type { Executor } from '../db/create-database.ts';
import { findIncident } from '../db/incident-store.ts';
import { ledgerAccounts, postJournal } from '../db/ledger.ts';
import { big, json, ms, num, ts } from '../db/sql-helpers.ts';
import { largestRemainder } from '../domain/allocation.ts';
import { badInput, conflict, notFound } from '../domain/errors.ts';
import { newId } from '../domain/ids.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { type Viewer, requireAdmin } from './auth.ts';
import { lockBackstop, repayIous } from './backstop.ts';
import type { Deps } from './deps.ts';

export interface RecoveryPart {
  layer: 'IOU' | 'BACKSTOP' | 'SENIOR' | 'JUNIOR' | 'FIRST_LOSS';
  poolId: string | null;
  amount: bigint;
}

export interface RecoveryRecord {
  id: string;
  incidentId: string;
  amount: bigint;
  reference: string;
  parts: RecoveryPart[];
  createdAt: number;
}

const ORDER = ['SENIOR', 'JUNIOR', 'FIRST_LOSS'] as const;

/**
 * Admin: money recovered for an incident (a hacker's return, an issuer's make-good). It is
 * distributed in the fixed order of docs/design.md §6: this incident's IOUs, then its backstop draws,
 * then what the senior, junior and first-loss tranches lost, never more than was lost.
 * Idempotent on `reference`.
 */
export async function recordRecovery(
  deps: Deps,
  viewer: Viewer | null,
  incidentId: string,
  amountText: string,
  reference: string,
): Promise<RecoveryRecord> {
  const admin = requireAdmin(viewer);
  const amount = parsePositiveAmount(amountText);
  const ref = reference?.trim() ?? '';
  if (ref.length < 1 || ref.length > 200) throw badInput('reference must be 1 to 200 characters', { field: 'reference' });
  const existing = await findRecoveryByReference(deps.db, ref);
  if (existing) {
    if (existing.incidentId !== incidentId || existing.amount !== amount)
      throw conflict('this reference was already used for another recovery', { reference: ref });
    return existing;
  }
  const now = deps.clock.now();
  return deps.db.transaction(async (tx) => {
    const incident = await findIncident(tx, incidentId);
    if (!incident) throw notFound(`no incident ${incidentId}`);
    if (incident.status !== 'SETTLED') throw conflict('the incident is still being settled', { incidentId });
    const layers = await tx.query<{ pool_id: string; layer: string; amount: string; asset: string }>(sql`
      SELECT l.pool_id, l.layer, l.amount, pl.asset FROM incident_layers l JOIN pools pl ON pl.id = l.pool_id
      WHERE l.incident_id = ${incidentId} ORDER BY l.pool_id`);
    const asset = layers[0]?.asset;
    if (!asset) throw conflict('this incident took nothing from any pool', { incidentId });
    await lockBackstop(tx, asset);
    const recovered = await recoveredSoFar(tx, incidentId);
    const open = await tx.query<{ open: string }>(
      sql`SELECT COALESCE(SUM(due - paid - iou_repaid), 0) AS open FROM payouts WHERE incident_id = ${incidentId}`,
    );
    const draws = await tx.query<{ open: string }>(
      sql`SELECT COALESCE(SUM(amount - repaid), 0) AS open FROM backstop_draws WHERE incident_id = ${incidentId}`,
    );
    const tranche = (layer: string) =>
      layers
        .filter((l) => l.layer === layer)
        .map((l) => ({ poolId: l.pool_id, open: big(l.amount) - (recovered.get(`${layer}:${l.pool_id}`) ?? 0n) }))
        .filter((x) => x.open > 0n);
    const steps: Array<{ layer: RecoveryPart['layer']; items: Array<{ poolId: string | null; open: bigint }> }> = [
      { layer: 'IOU', items: [{ poolId: null, open: big(open[0]?.open ?? '0') }] },
      { layer: 'BACKSTOP', items: [{ poolId: null, open: big(draws[0]?.open ?? '0') }] },
      ...ORDER.map((layer) => ({ layer, items: tranche(layer) })),
    ];
    const totalOpen = steps.flatMap((s) => s.items).reduce((s, i) => s + i.open, 0n);
    if (amount > totalOpen)
      throw badInput(`at most ${totalOpen} can still be recovered for this incident`, { field: 'amount', open: totalOpen.toString() });

    let left = amount;
    const parts: RecoveryPart[] = [];
    for (const step of steps) {
      const open = step.items.reduce((s, i) => s + i.open, 0n);
      const take = open < left ? open : left;
      if (take === 0n) continue;
      const shares = largestRemainder(
        take,
        step.items.map((i) => i.open),
      );
      step.items.forEach((item, i) => {
        if ((shares[i] as bigint) > 0n) parts.push({ layer: step.layer, poolId: item.poolId, amount: shares[i] as bigint });
      });
      left -= take;
    }
    const id = newId('rec');
    // Money enters from outside and lands where each part says; IOUs are paid to wallets.
    await postJournal(tx, {
      kind: 'RECOVERY',
      at: now,
      reference: id,
      postings: [
        { account: ledgerAccounts.external(asset), amount: -amount },
        ...parts.map((p) => ({
          account:
            p.layer === 'IOU'
              ? ledgerAccounts.iouReserve(asset)
              : p.layer === 'BACKSTOP'
                ? ledgerAccounts.backstop(asset)
                : ledgerAccounts.tranche(asset, p.poolId as string, p.layer),
          amount: p.amount,
        })),
      ],
    });
    const iou = parts.find((p) => p.layer === 'IOU')?.amount ?? 0n;
    if (iou > 0n) await repayIous(tx, asset, ledgerAccounts.iouReserve(asset), iou, now, incidentId);
    const backstop = parts.find((p) => p.layer === 'BACKSTOP')?.amount ?? 0n;
    if (backstop > 0n) await repayDraws(tx, { incidentId }, backstop);
    await tx.query(sql`
      INSERT INTO recoveries (id, incident_id, amount, reference, distribution, created_by, created_at)
      VALUES (${id}, ${incidentId}, ${num(amount)}, ${ref}, ${json(parts.map((p) => ({ ...p, amount: p.amount.toString() })))}, ${admin.address}, ${ts(now)})`);
    return { id, incidentId, amount, reference: ref, parts, createdAt: now };
  });
}

async function recoveredSoFar(ex: Executor, incidentId: string): Promise<Map<string, bigint>> {
  const sums = new Map<string, bigint>();
  for (const r of await recoveriesOf(ex, incidentId)) {
    for (const p of r.parts) sums.set(`${p.layer}:${p.poolId}`, (sums.get(`${p.layer}:${p.poolId}`) ?? 0n) + p.amount);
  }
  return sums;
}

interface RecoveryRow {
  id: string;
  incident_id: string;
  amount: string;
  reference: string;
  distribution: Array<{ layer: RecoveryPart['layer']; poolId: string | null; amount: string }>;
  created_at: Date;
}

const toRecovery = (r: RecoveryRow): RecoveryRecord => ({
  id: r.id,
  incidentId: r.incident_id,
  amount: big(r.amount),
  reference: r.reference,
  parts: r.distribution.map((p) => ({ ...p, amount: big(p.amount) })),
  createdAt: ms(r.created_at),
});

export async function recoveriesOf(ex: Executor, incidentId: string): Promise<RecoveryRecord[]> {
  return (await ex.query<RecoveryRow>(sql`SELECT * FROM recoveries WHERE incident_id = ${incidentId} ORDER BY created_at, id`)).map(
    toRecovery,
  );
}

async function findRecoveryByReference(ex: Executor, reference: string): Promise<RecoveryRecord | undefined> {
  const rows = await ex.query<RecoveryRow>(sql`SELECT * FROM recoveries WHERE reference = ${reference}`);
  return rows[0] && toRecovery(rows[0]);
}
