import type { Address } from 'viem';
import { assignInbound, cursorOf, depositsTo, findDeposit, unattributedDeposits } from '../db/deposit-store.ts';
import type { ChainDepositRecord } from '../domain/chain-money.ts';
import { badInput, conflict, notFound } from '../domain/errors.ts';
import { type Page, type PageRequest, toPage } from '../domain/page.ts';
import { type Subject, type Viewer, normaliseAddress, requireAdmin, resolveSubject } from './viewer.ts';
import type { Deps } from './deps.ts';
import { chainRail, depositCursor } from './money-rail.ts';

const PENDING_RANGE = 2_000n;

/** A deposit as its owner sees it: PENDING while on chain but not yet confirmed. */
export type DepositView = Omit<ChainDepositRecord, 'status'> & { status: ChainDepositRecord['status'] | 'PENDING' };

export interface DepositsView {
  /** Deposits seen on chain, not yet confirmed: nothing is credited for them until they are. */
  pending: DepositView[];
  credited: Page<ChainDepositRecord>;
}

/** A user's deposits into the treasury: recorded ones from the ledger, pending ones read from the chain now. */
export async function deposits(deps: Deps, viewer: Viewer | null, address: Subject, page: PageRequest): Promise<DepositsView> {
  const subject = resolveSubject(viewer, address);
  const { rail, treasury } = chainRail(deps, 'deposits from a wallet');
  const cursor = (await cursorOf(deps.db, depositCursor(rail))) ?? rail.startBlock - 1n;
  const latest = await treasury.latestBlock();
  // The unconfirmed zone is a few blocks; an indexer far behind shows its last 2,000 (RPCs cap log ranges).
  const from = cursor + 1n > latest - PENDING_RANGE ? cursor + 1n : latest - PENDING_RANGE;
  const pending =
    latest >= from
      ? (await treasury.inbound(from, latest, subject as Address)).map(
          (l): DepositView => ({
            txHash: l.txHash,
            logIndex: l.logIndex,
            ordinal: l.ordinal,
            credits: 0,
            blockNumber: l.blockNumber,
            kind: l.kind,
            asset: rail.asset,
            sender: l.sender,
            beneficiary: l.beneficiary,
            amount: l.amount,
            status: 'PENDING',
            assignedBy: null,
            reason: null,
            seenAt: deps.clock.now(),
            creditedAt: null,
          }),
        )
      : [];
  const credited = toPage(await depositsTo(deps.db, subject, page), page, (d) => ({ key: d.seenAt, id: `${d.txHash}:${d.logIndex}` }));
  return { pending, credited };
}

export async function unattributed(deps: Deps, viewer: Viewer | null, page: PageRequest): Promise<Page<ChainDepositRecord>> {
  requireAdmin(viewer);
  return toPage(await unattributedDeposits(deps.db, page), page, (d) => ({ key: d.seenAt, id: `${d.txHash}:${d.logIndex}` }));
}

/** An admin credits a plain transfer to the treasury to the wallet it belongs to, with a reason (journal entry). */
export async function assignDeposit(
  deps: Deps,
  viewer: Viewer | null,
  input: { txHash: string; logIndex: number; address: string; reason: string },
): Promise<ChainDepositRecord> {
  const admin = requireAdmin(viewer);
  const address = normaliseAddress(input.address);
  const reason = typeof input.reason === 'string' ? input.reason.trim() : '';
  if (reason.length < 3 || reason.length > 500) throw badInput('reason must be 3 to 500 characters', { field: 'reason' });
  if (!/^0x[0-9a-fA-F]{64}$/.test(input.txHash)) throw badInput('txHash must be a 32-byte 0x-hex transaction hash', { field: 'txHash' });
  return deps.db.transaction(async (tx) => {
    const found = await findDeposit(tx, input.txHash, input.logIndex, true);
    if (!found) throw notFound(`no recorded transfer ${input.txHash}:${input.logIndex}`);
    if (found.status !== 'UNATTRIBUTED') throw conflict(`this transfer is already ${found.status.toLowerCase()} to ${found.beneficiary}`);
    await assignInbound(tx, found, { address, by: admin.address, reason, now: deps.clock.now() });
    return (await findDeposit(tx, input.txHash, input.logIndex)) as ChainDepositRecord;
  });
}
