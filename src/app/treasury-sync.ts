import { openReorg } from '../db/reorg-store.ts';
import type { Deps } from './deps.ts';
import { indexDeposits, syncFailureReason } from './index-deposits.ts';
import { indexPolicyTokens, mintPolicyTokens } from './policy-tokens.ts';
import { indexPositionTokens, issuePendingPositionTokens } from './position-tokens.ts';
import { reconcileReserves } from './reconcile-reserves.ts';
import { markPlacements } from './placements.ts';
import { type SenderProbe, sendOutbound } from './send-payouts.ts';
import { chainRail } from './money-rail.ts';
import { stillLeading } from './lease.ts';

/**
 * One pass of the chain settlement: deposits, policy token transfers and position token
 * redemptions in, one sender step (payments and moves of capital to and from yield sources), the
 * minter's step (policy mints, then position issues), the placements marked, reconciliation. A failure is
 * counted by reason (cover_treasury_sync_errors_total) and thrown: the last reserve check then
 * ages, and past its maximum age sales stop (fail closed).
 */
export async function syncTreasury(deps: Deps, probe?: SenderProbe): Promise<void> {
  try {
    await syncOnce(deps, probe);
  } catch (error) {
    deps.metrics.count('treasury_sync_errors', { reason: syncFailureReason(error) });
    throw error;
  }
}

type MinterStep = (deps: Deps) => Promise<'idle' | 'waiting' | 'sent'>;
/** Which of the minter's two steps goes first in the next pass (they alternate). */
let positionsFirst = false;

async function syncOnce(deps: Deps, probe?: SenderProbe): Promise<void> {
  await indexDeposits(deps);
  await indexPolicyTokens(deps);
  stillLeading(deps);
  await indexPositionTokens(deps);
  stillLeading(deps);
  const { rail } = chainRail(deps, 'the payout sender');
  const reorg = await openReorg(deps.db, rail.asset);
  if (reorg) {
    deps.log.error({ reorg: reorg.id }, 'sends are stopped until an admin acknowledges the reorg (acknowledgeReorg)');
  } else {
    // A step that just sent or confirmed may have more to do at once (e.g. the next batch).
    for (let i = 0; i < 4; i++) {
      stillLeading(deps);
      const step = await sendOutbound(deps, probe);
      if (step === 'idle' || step === 'waiting') break;
    }
  }
  stillLeading(deps);
  // One minter key, two kinds of work: policy mints and position issues take turns going
  // first, so a steady stream of purchases cannot starve the issues (or the reverse); the
  // second goes only when the first sent nothing, and waits on the key's pending transaction.
  const [first, second]: [MinterStep, MinterStep] = positionsFirst
    ? [issuePendingPositionTokens, mintPolicyTokens]
    : [mintPolicyTokens, issuePendingPositionTokens];
  positionsFirst = !positionsFirst;
  if ((await first(deps)) !== 'sent') {
    stillLeading(deps);
    await second(deps);
  }
  stillLeading(deps);
  // What the pools' vault shares are worth is booked before the reserves are measured, so the
  // ledger owes what the vault realised when the chain is read.
  await markPlacements(deps);
  stillLeading(deps);
  await reconcileReserves(deps);
}
