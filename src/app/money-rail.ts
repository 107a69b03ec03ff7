import type { TreasuryGateway } from '../chain/treasury.ts';
import { type AccountRef, ledgerAccounts } from '../db/ledger.ts';
import { settlementUnavailable } from '../domain/errors.ts';
import type { Deps, MoneyRail } from './deps.ts';

/**
 * The money rail the use cases share: money on the ledger alone, or on a chain through the
 * treasury contract (`config.rail`). This is the chain's half: its settings and treasury,
 * where platform money comes from, and the indexers' common read range and cursor.
 */
export type ChainRail = Extract<MoneyRail, { mode: 'chain' }>;

/** The chain rail and its treasury, or SETTLEMENT_UNAVAILABLE naming what needs it. */
export function chainRail(deps: Deps, what: string): { rail: ChainRail; treasury: TreasuryGateway } {
  const s = deps.config.rail;
  if (s.mode !== 'chain' || !deps.treasury) {
    throw settlementUnavailable(`${what} needs money on chain (SETTLEMENT=chain); this server keeps money on its ledger only`);
  }
  return { rail: s, treasury: deps.treasury };
}

/**
 * Where platform money (backstop funding, recoveries) comes from. On the ledger it enters
 * from outside; with chain settlement every unit must be in the treasury, so it comes from
 * the admin's wallet, which the admin funds with a deposit like anyone else.
 */
export function platformMoneySource(deps: Deps, asset: string, admin: string): AccountRef {
  const s = deps.config.rail;
  return s.mode === 'chain' && s.asset === asset ? ledgerAccounts.wallet(asset, admin) : ledgerAccounts.external(asset);
}

/** Blocks read per getLogs request by the chain's indexers (public RPCs cap ranges). */
export const LOG_RANGE = 2_000n;

/** The deposit indexer's cursor name: one per chain and treasury. */
export function depositCursor(s: ChainRail): string {
  return `deposits:${s.chainId}:${s.treasury.toLowerCase()}`;
}

/** Most reads of one range in a pass: past it the pass ends and the next starts afresh from the cursor. */
export const MAX_RANGE_REREADS = 5;

/**
 * A range read across a reorg (its last block's hash changed, or a node behind the one that
 * gave the head does not have it yet) is read again, a few times: a chain that keeps moving
 * under the reads, or RPC nodes out of step, end the pass (an error, retried next pass) instead
 * of spinning on the node.
 */
export function rereadRange(deps: Deps, rereads: number, to: bigint, what: string): void {
  if (rereads > MAX_RANGE_REREADS) {
    throw new Error(`block ${to} changed or was missing under ${MAX_RANGE_REREADS} reads of its range's ${what}: read again next pass`);
  }
  deps.log.warn({ block: to.toString() }, `the chain reorganised while its ${what} were read: reading again`);
}
