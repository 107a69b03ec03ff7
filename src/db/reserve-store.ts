import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { ledgerAccounts } from './ledger.ts';
import { big, ms, num, ts } from './sql-helpers.ts';
import type { ReserveCheck } from '../domain/chain-money.ts';

// ---- reconciliation --------------------------------------------------------------------

/** The ledger's side of a reserve check, read in one statement (one snapshot). */
export interface LedgerReserves {
  /** What the ledger owes in this asset: every internal balance (all of them sum to -external). */
  liabilities: bigint;
  pendingOutbound: bigint;
  /**
   * Payment batches not yet confirmed (prepared or sent): the chain may have executed some of
   * them. Not moves to and from a vault: what they move stays the treasury's (holdings().placed).
   */
  unconfirmed: Array<{ number: bigint; total: bigint }>;
}

/**
 * Liabilities, pending outbound and the unconfirmed batches, from one snapshot. Read in
 * separate statements, a batch confirmed between them would still be owed in the
 * liabilities read before and already missing from the unconfirmed batches read after:
 * paid on chain, owed in the ledger, added back nowhere (a false deficit of one batch).
 */
export async function ledgerReserves(ex: Executor, asset: string): Promise<LedgerReserves> {
  const rows = await ex.query<{
    external: string | null;
    outbound: string | null;
    batches: Array<{ number: string; total: string }> | null;
  }>(sql`
    SELECT (SELECT balance FROM accounts WHERE id = ${ledgerAccounts.external(asset).id}) AS external,
           (SELECT balance FROM accounts WHERE id = ${ledgerAccounts.pendingOutbound(asset).id}) AS outbound,
           (SELECT json_agg(json_build_object('number', number::text, 'total', total::text))
              FROM outbound_batches WHERE asset = ${asset} AND status IN ('PREPARED', 'SENT') AND move_kind IS NULL) AS batches`);
  const r = rows[0];
  return {
    liabilities: -big(r?.external ?? '0'),
    pendingOutbound: big(r?.outbound ?? '0'),
    unconfirmed: (r?.batches ?? []).map((b) => ({ number: big(b.number), total: big(b.total) })),
  };
}

export async function saveReserveCheck(ex: Executor, r: ReserveCheck): Promise<void> {
  await ex.query(sql`
    INSERT INTO reserve_checks (asset, block_number, treasury_balance, placed, liabilities, pending_outbound, in_flight, surplus, checked_at)
    VALUES (${r.asset}, ${r.blockNumber.toString()}::bigint, ${num(r.treasuryBalance)}, ${num(r.placed)}, ${num(r.liabilities)}, ${num(r.pendingOutbound)},
            ${num(r.inFlight)}, ${num(r.surplus)}, ${ts(r.checkedAt)})
    ON CONFLICT (asset) DO UPDATE SET block_number = EXCLUDED.block_number, treasury_balance = EXCLUDED.treasury_balance, placed = EXCLUDED.placed,
      liabilities = EXCLUDED.liabilities, pending_outbound = EXCLUDED.pending_outbound, in_flight = EXCLUDED.in_flight,
      surplus = EXCLUDED.surplus, checked_at = EXCLUDED.checked_at`);
}

export async function lastReserveCheck(ex: Executor, asset: string): Promise<ReserveCheck | undefined> {
  const rows = await ex.query<ReserveCheckRow>(sql`SELECT * FROM reserve_checks WHERE asset = ${asset}`);
  return rows[0] ? toReserveCheck(rows[0]) : undefined;
}

export async function allReserveChecks(ex: Executor): Promise<ReserveCheck[]> {
  const rows = await ex.query<ReserveCheckRow>(sql`SELECT * FROM reserve_checks ORDER BY asset`);
  return rows.map(toReserveCheck);
}

/** A reserve_checks row as the driver returns it. */
interface ReserveCheckRow {
  asset: string;
  block_number: string;
  treasury_balance: string;
  placed: string;
  liabilities: string;
  pending_outbound: string;
  in_flight: string;
  surplus: string;
  checked_at: Date;
}

function toReserveCheck(r: ReserveCheckRow): ReserveCheck {
  return {
    asset: r.asset,
    blockNumber: big(r.block_number),
    treasuryBalance: big(r.treasury_balance),
    placed: big(r.placed),
    liabilities: big(r.liabilities),
    pendingOutbound: big(r.pending_outbound),
    inFlight: big(r.in_flight),
    surplus: big(r.surplus),
    checkedAt: ms(r.checked_at),
  };
}
