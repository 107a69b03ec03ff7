import { sql } from 'drizzle-orm';
import type { Executor } from './create-database.ts';
import { uncredited } from './claims-store.ts';
import { unpaid } from './settlement-store.ts';

/** Policy `p` still carries exposure and earns: its term has not ended and it has not been paid. */
const activeUnpaid = sql`p.status = 'ACTIVE' AND ${unpaid}`;

/**
 * Checks the ledger and the aggregates kept beside it. Returns one line per violation;
 * tests assert the list is empty after every scenario, and operators can run it live.
 */
export async function checkInvariants(db: Executor): Promise<string[]> {
  const checks: Array<[string, ReturnType<typeof sql>]> = [
    ['balances of an asset do not sum to zero', sql`SELECT asset AS key FROM accounts GROUP BY asset HAVING SUM(balance) <> 0`],
    ['journal entry does not balance', sql`SELECT entry_id AS key FROM postings GROUP BY entry_id HAVING SUM(amount) <> 0`],
    [
      'journal entry mixes assets',
      sql`SELECT p.entry_id AS key FROM postings p JOIN accounts a ON a.id = p.account_id GROUP BY p.entry_id HAVING COUNT(DISTINCT a.asset) > 1`,
    ],
    [
      'account balance differs from its postings',
      sql`SELECT a.id AS key FROM accounts a
          LEFT JOIN (SELECT account_id, SUM(amount) AS s FROM postings GROUP BY account_id) p ON p.account_id = a.id
          WHERE a.balance <> COALESCE(p.s, 0)`,
    ],
    ['negative balance', sql`SELECT id AS key FROM accounts WHERE kind <> 'EXTERNAL' AND balance < 0`],
    [
      'tranche shares differ from the positions',
      sql`SELECT t.pool_id || '/' || t.tranche AS key FROM tranches t
          LEFT JOIN (SELECT pool_id, tranche, SUM(shares + locked_shares) AS s FROM positions GROUP BY pool_id, tranche) p
            ON p.pool_id = t.pool_id AND p.tranche = t.tranche
          WHERE t.total_shares <> COALESCE(p.s, 0)`,
    ],
    [
      'locked shares differ from pending withdrawals',
      sql`SELECT p.pool_id || '/' || p.owner AS key FROM positions p
          LEFT JOIN (SELECT pool_id, tranche, owner, SUM(shares) AS s FROM withdrawal_requests WHERE status = 'PENDING' GROUP BY 1, 2, 3) w
            ON w.pool_id = p.pool_id AND w.tranche = p.tranche AND w.owner = p.owner
          WHERE p.locked_shares <> COALESCE(w.s, 0)`,
    ],
    [
      'pool total exposure differs from its active policies',
      sql`SELECT pl.id AS key FROM pools pl
          LEFT JOIN (SELECT pool_id, SUM(exposure) AS s FROM policies p WHERE ${activeUnpaid} GROUP BY pool_id) x ON x.pool_id = pl.id
          WHERE pl.total_exposure <> COALESCE(x.s, 0)`,
    ],
    [
      'pool earning rate differs from its active policies and backstop streams',
      sql`SELECT pl.id AS key FROM pools pl
          LEFT JOIN (SELECT pool_id, SUM(s) AS s FROM (
              SELECT pool_id, earning_rate_wad AS s FROM policies p WHERE ${activeUnpaid}
              UNION ALL SELECT pool_id, earning_rate_wad FROM backstop_streams WHERE status = 'ACTIVE') e GROUP BY pool_id) x ON x.pool_id = pl.id
          WHERE pl.earning_rate_wad <> COALESCE(x.s, 0)`,
    ],
    [
      'risk exposure differs from its active policies',
      sql`SELECT pr.pool_id || '/' || pr.risk_id AS key FROM pool_risks pr
          LEFT JOIN (SELECT pool_id, risk_id, SUM(exposure) AS s FROM policies p WHERE ${activeUnpaid} GROUP BY 1, 2) x
            ON x.pool_id = pr.pool_id AND x.risk_id = pr.risk_id
          WHERE pr.exposure <> COALESCE(x.s, 0)`,
    ],
    [
      'group exposure differs from its active policies',
      sql`SELECT g.pool_id || '/' || g.correlation_group AS key FROM pool_group_exposure g
          LEFT JOIN (SELECT p.pool_id, r.correlation_group, SUM(p.exposure) AS s FROM policies p JOIN risks r ON r.id = p.risk_id
                     WHERE ${activeUnpaid} GROUP BY 1, 2) x
            ON x.pool_id = g.pool_id AND x.correlation_group = g.correlation_group
          WHERE g.exposure <> COALESCE(x.s, 0)`,
    ],
    [
      'incident pool totals differ from its payouts',
      sql`SELECT ip.incident_id || '/' || ip.pool_id AS key FROM incident_pools ip
          LEFT JOIN (SELECT incident_id, pool_id, SUM(due) AS due, SUM(paid) AS paid FROM payouts GROUP BY 1, 2) x
            ON x.incident_id = ip.incident_id AND x.pool_id = ip.pool_id
          WHERE ip.due <> COALESCE(x.due, 0) OR ip.paid <> COALESCE(x.paid, 0)`,
    ],
    [
      'payout journal differs from the payouts it pays',
      sql`SELECT ip.incident_id || '/' || ip.pool_id AS key FROM incident_pools ip
          LEFT JOIN (SELECT entry_id, SUM(amount) AS credited FROM postings WHERE amount > 0 GROUP BY entry_id) j ON j.entry_id = ip.journal_entry_id
          WHERE COALESCE(j.credited, 0) <> ip.paid`,
    ],
    [
      'claims payable differs from the uncredited payouts',
      sql`SELECT a.id AS key FROM accounts a
          LEFT JOIN (SELECT pl.asset, SUM(y.paid) AS s FROM payouts y
                     JOIN incident_pools ip ON ip.incident_id = y.incident_id AND ip.pool_id = y.pool_id JOIN pools pl ON pl.id = y.pool_id
                     WHERE ${uncredited}
                     GROUP BY pl.asset) c ON c.asset = a.asset
          WHERE a.id LIKE 'claims:%' AND a.balance <> COALESCE(c.s, 0)`,
    ],
    [
      'credited payouts differ from their credit entries',
      sql`SELECT y.credited_entry_id AS key FROM payouts y
          LEFT JOIN (SELECT entry_id, SUM(amount) AS s FROM postings WHERE amount > 0 GROUP BY entry_id) j ON j.entry_id = y.credited_entry_id
          WHERE y.credited_entry_id IS NOT NULL GROUP BY y.credited_entry_id, j.s HAVING SUM(y.paid) <> COALESCE(j.s, 0)`,
    ],
    [
      'payout without a settled pool',
      sql`SELECT x.policy_id AS key FROM payouts x LEFT JOIN incident_pools ip ON ip.incident_id = x.incident_id AND ip.pool_id = x.pool_id WHERE ip.incident_id IS NULL`,
    ],
    // Money on chain (docs/design.md §10).
    [
      'pending outbound differs from the queued, sent and parked transfers',
      sql`SELECT a.id AS key FROM accounts a
          LEFT JOIN (SELECT asset, SUM(amount) AS s FROM outbound_transfers WHERE status IN ('QUEUED', 'SENT', 'PARKED') GROUP BY asset) t ON t.asset = a.asset
          WHERE a.kind = 'PENDING_OUTBOUND' AND a.balance <> COALESCE(t.s, 0)`,
    ],
    [
      // What the token refused left the batch's payments (parked, and maybe retried in another batch since).
      'transfers of a batch differ from its total',
      sql`SELECT b.id AS key FROM outbound_batches b
          LEFT JOIN (SELECT batch_id, COUNT(*) AS n, SUM(amount) AS s FROM outbound_transfers WHERE status <> 'PARKED' GROUP BY batch_id) t ON t.batch_id = b.id
          WHERE b.status <> 'FAILED' AND b.move_kind IS NULL AND (COALESCE(t.s, 0) <> b.total - b.refused_total OR COALESCE(t.n, 0) <> b.transfers - b.refused)`,
    ],
    [
      'payout transfer differs from its payout',
      sql`SELECT t.reference AS key FROM outbound_transfers t LEFT JOIN payouts x ON t.reference = 'payout:' || x.policy_id
          WHERE t.kind = 'PAYOUT' AND (x.policy_id IS NULL OR t.amount <> x.paid OR (t.recipient <> x.buyer AND NOT EXISTS (
            SELECT 1 FROM outbound_transfer_actions a WHERE a.transfer_id = t.id AND a.action = 'REDIRECT' AND a.recipient = t.recipient)))`,
    ],
    [
      'credited chain deposit differs from its journal entry',
      sql`SELECT d.tx_hash || ':' || d.log_index AS key FROM chain_deposits d
          LEFT JOIN postings p ON p.entry_id = d.journal_entry_id AND p.amount > 0
          WHERE d.status IN ('CREDITED', 'ASSIGNED') AND (p.amount IS NULL OR p.amount <> d.amount)`,
    ],
    [
      // A batch whose every transfer the token refused paid nothing, and has no entry.
      'confirmed batch without its journal entry for what it paid',
      sql`SELECT b.id AS key FROM outbound_batches b LEFT JOIN journal_entries j
            ON j.idempotency_key = 'outbound:batch:' || b.id || CASE WHEN b.reorged = 0 THEN '' ELSE ':' || b.reorged END
          LEFT JOIN postings p ON p.entry_id = j.id AND p.amount > 0
          WHERE b.status = 'CONFIRMED' AND b.move_kind IS NULL AND COALESCE(p.amount, 0) <> b.total - b.refused_total`,
    ],
    [
      // A pool's vault shares are what its confirmed moves placed less what they redeemed (issue 68).
      'placement shares differ from its confirmed moves',
      sql`SELECT x.pool_id AS key FROM pool_placements x
          LEFT JOIN (SELECT move_pool_id, SUM(CASE move_kind WHEN 'PLACE' THEN moved_shares ELSE -moved_shares END) AS s
                     FROM outbound_batches WHERE status = 'CONFIRMED' AND move_kind IS NOT NULL GROUP BY move_pool_id) m
            ON m.move_pool_id = x.pool_id
          WHERE x.shares <> COALESCE(m.s, 0)`,
    ],
  ];
  const violations: string[] = [];
  for (const [label, query] of checks) {
    const rows = await db.query<{ key: string }>(query);
    for (const row of rows) violations.push(`${label}: ${row.key}`);
  }
  return violations;
}
