import { formatUnits } from 'viem';
import { assetDecimals } from '../db/asset-store.ts';
import { creditClaimsOf } from '../db/claims-store.ts';
import { ledgerAccounts } from '../db/ledger.ts';
import { accountPostings } from '../db/statement-store.ts';
import { badInput } from '../domain/errors.ts';
import type { Deps } from './deps.ts';
import { type Viewer, resolveSubject } from './viewer.ts';

/** Lines one statement carries at most: a longer history is asked a window of time at a time. */
export const STATEMENT_MAX_LINES = 10_000;

/** What each journal kind is, for an accountant reading the wallet's side of it. */
const DESCRIPTIONS: Record<string, string> = {
  CREDIT: 'Credited from outside (bank transfer or top-up)',
  CHAIN_DEPOSIT: 'Deposited on chain',
  CHAIN_DEPOSIT_ASSIGNED: 'On-chain deposit assigned to this wallet',
  CHAIN_DEPOSIT_REORGED: 'On-chain deposit undone by a chain reorganisation',
  DEPOSIT: 'Capital put into a pool tranche',
  WITHDRAWAL: 'Capital withdrawn from a pool tranche',
  PREMIUM: 'Cover bought: premium and platform fee',
  PAYOUT_CREDITED: 'Policy payout',
  PAYOUT: 'Policy payout',
  IOU_REPAYMENT: 'Repayment of a payout IOU',
  TRANSFER: 'Sent to a wallet on chain',
  WITHDRAWAL_REFUNDED: 'On-chain withdrawal refused and refunded',
  OUTBOUND_REORGED: 'On-chain transfer undone by a reorganisation',
};

export interface StatementLine {
  at: number;
  kind: string;
  description: string;
  amount: bigint;
  balanceAfter: bigint;
  reference: string | null;
  entryId: string;
}

export interface Statement {
  address: string;
  asset: string;
  decimals: number;
  from: number;
  to: number;
  lines: StatementLine[];
  /** More lines follow in the window: ask again from the last line's time. */
  truncated: boolean;
}

/**
 * An account's wallet history in one asset: every posting to its wallet, in order, with the
 * balance after it. Settled payouts not yet credited are credited first, so the statement ends
 * on the balance the API reports. Admins may ask for another address.
 */
export async function accountStatement(
  deps: Deps,
  viewer: Viewer | null,
  input: { address?: string | null; asset?: string | null; from?: number | null; to?: number | null },
): Promise<Statement> {
  const address = resolveSubject(viewer, input.address);
  const asset = input.asset ?? 'USDC';
  const decimals = await assetDecimals(deps.db, asset);
  const now = deps.clock.now();
  const from = input.from ?? 0;
  const to = input.to ?? now + 1;
  if (!(from < to)) throw badInput('from must be before to', { field: 'from' });
  await deps.db.transaction((tx) => creditClaimsOf(tx, asset, address, now));
  const rows = await accountPostings(deps.db, ledgerAccounts.wallet(asset, address).id, from, to, now, STATEMENT_MAX_LINES + 1);
  return {
    address,
    asset,
    decimals,
    from,
    to,
    truncated: rows.length > STATEMENT_MAX_LINES,
    lines: rows.slice(0, STATEMENT_MAX_LINES).map((r) => ({
      at: r.at,
      kind: r.kind,
      description:
        r.kind === 'PREMIUM' && r.amount > 0n
          ? r.distributor === address
            ? 'Commission on a cover you distributed'
            : "Curator's fee on a cover sold by a pool you curate"
          : r.renewal
            ? 'Cover renewed: premium and platform fee'
            : (DESCRIPTIONS[r.kind] ?? r.kind.toLowerCase().replaceAll('_', ' ')),
      amount: r.amount,
      balanceAfter: r.balanceAfter,
      reference: r.reference,
      entryId: r.entryId,
    })),
  };
}

/** A text field as a CSV cell: quoted when it must be, and never read as a formula by a spreadsheet. */
function cell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export const STATEMENT_COLUMNS = [
  'time',
  'kind',
  'description',
  'amount',
  'asset',
  'balance_after',
  'reference',
  'entry_id',
  'amount_base_units',
];

/** The statement as CSV (RFC 4180): a header line, then a line per posting; amounts in whole units of the asset, signed. */
export function statementCsv(s: Statement): string {
  const lines = s.lines.map((l) =>
    [
      new Date(l.at).toISOString(),
      cell(l.kind),
      cell(l.description),
      formatUnits(l.amount, s.decimals),
      cell(s.asset),
      formatUnits(l.balanceAfter, s.decimals),
      cell(l.reference ?? ''),
      cell(l.entryId),
      l.amount.toString(),
    ].join(','),
  );
  return `${[STATEMENT_COLUMNS.join(','), ...lines].join('\r\n')}\r\n`;
}
