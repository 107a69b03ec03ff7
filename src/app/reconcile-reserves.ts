import { saveReserveCheck } from '../db/reserve-store.ts';
import type { Deps } from './deps.ts';
import { fencedTransaction } from './lease.ts';
import { measureReserves } from './reserves.ts';

/** Measures the treasury against the ledger and stores it: what the purchase gate, /readyz and the metrics read. */
export async function reconcileReserves(deps: Deps): Promise<void> {
  const check = await measureReserves(deps);
  await fencedTransaction(deps, (tx) => saveReserveCheck(tx, check));
  if (check.surplus < 0n) {
    deps.log.error(
      {
        asset: check.asset,
        deficit: (-check.surplus).toString(),
        block: check.blockNumber.toString(),
        treasuryBalance: check.treasuryBalance.toString(),
        placed: check.placed.toString(),
        inFlight: check.inFlight.toString(),
        liabilities: check.liabilities.toString(),
        pendingOutbound: check.pendingOutbound.toString(),
      },
      'treasury holds less than the ledger owes: sales stopped',
    );
  }
}
