import { lockBackstop, repayDraws, repayIous } from '../db/backstop-store.ts';
import type { Executor } from '../db/create-database.ts';
import { findIncident } from '../db/incident-store.ts';
import { findRecoveryByReference, incidentTakes, insertRecovery, openDraws, openIous, recoveriesOf } from '../db/recovery-store.ts';
import type { RecoveryPart, RecoveryRecord } from '../domain/incident.ts';

export { recoveriesOf, type RecoveryPart, type RecoveryRecord };
import { ledgerAccounts, postJournal } from '../db/ledger.ts';
import { largestRemainder } from '../domain/allocation.ts';
import { badInput, conflict, notFound } from '../domain/errors.ts';
import { newId } from '../db/ids.ts';
import { parsePositiveAmount } from '../domain/money.ts';
import { type Viewer, requireAdmin } from './viewer.ts';
import type { Deps } from './deps.ts';
import { platformMoneySource } from './money-rail.ts';

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
    const layers = await incidentTakes(tx, incidentId);
    const asset = layers[0]?.asset;
    if (!asset) throw conflict('this incident took nothing from any pool', { incidentId });
    await lockBackstop(tx, asset);
    const recovered = await recoveredSoFar(tx, incidentId);

    const tranche = (layer: string) =>
      layers
        .filter((l) => l.layer === layer)
        .map((l) => ({ poolId: l.poolId, open: l.amount - (recovered.get(`${layer}:${l.poolId}`) ?? 0n) }))
        .filter((x) => x.open > 0n);
    const steps: Array<{ layer: RecoveryPart['layer']; items: Array<{ poolId: string | null; open: bigint }> }> = [
      { layer: 'IOU', items: [{ poolId: null, open: await openIous(tx, incidentId) }] },
      { layer: 'BACKSTOP', items: [{ poolId: null, open: await openDraws(tx, incidentId) }] },
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
        { account: platformMoneySource(deps, asset, admin.address), amount: -amount },
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
    const recovery: RecoveryRecord = { id, incidentId, amount, reference: ref, parts, createdAt: now };
    await insertRecovery(tx, recovery, admin.address);
    return recovery;
  });
}

async function recoveredSoFar(ex: Executor, incidentId: string): Promise<Map<string, bigint>> {
  const sums = new Map<string, bigint>();
  for (const r of await recoveriesOf(ex, incidentId)) {
    for (const p of r.parts) sums.set(`${p.layer}:${p.poolId}`, (sums.get(`${p.layer}:${p.poolId}`) ?? 0n) + p.amount);
  }
  return sums;
}
