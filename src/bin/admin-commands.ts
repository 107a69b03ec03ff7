import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { Viewer } from '../app/viewer.ts';
import { backstopOf, fundBackstop } from '../app/backstop.ts';
import type { Deps } from '../app/deps.ts';
import { recordRecovery } from '../app/recoveries.ts';
import { allRisks, overrideRiskScore, riskMonitoring, shownState } from '../app/risks.ts';
import type { Monitoring } from '../domain/monitoring.ts';
import { assetDecimals } from '../db/asset-store.ts';
import { formatUnits } from 'viem';
import { acknowledgeReorg, chainReorgs } from '../app/reorgs.ts';
import { assignDeposit, unattributed } from '../app/chain-deposits.ts';
import { parked, retryTransfer } from '../app/payout-transfers.ts';
import type { ReorgRecord } from '../domain/chain-money.ts';
import type { OutboundTransferRecord } from '../domain/chain-money.ts';
import { effectiveScore } from '../domain/risk.ts';
import { type Page, type PageRequest, pageRequest } from '../domain/page.ts';

/** What a command prints: rows for a table (or `--json`), or lines of text. */
export type AdminOutput = { rows: Array<Record<string, unknown>> } | { text: string[] };

interface Command {
  usage: string;
  /** How many arguments it needs at least (the usage names them). */
  needs: number;
  summary: string;
  /** Whether it works on the database (every command but the secret rotation). */
  database: boolean;
  run(args: string[], context: { deps?: Deps; admin: Viewer; env: NodeJS.ProcessEnv }): Promise<AdminOutput>;
}

/**
 * An amount in a row: shown in whole units with its asset in a table ("1,000.5 USDC"), the
 * API does (amounts are base units there), and as the base-unit string in `--json`, for scripts.
 */
export class Money {
  readonly amount: bigint;
  readonly asset: string;
  readonly decimals: number;
  constructor(amount: bigint, asset: string, decimals: number) {
    this.amount = amount;
    this.asset = asset;
    this.decimals = decimals;
  }
  toString(): string {
    const [whole, fraction] = formatUnits(this.amount, this.decimals).split('.');
    const grouped = BigInt(whole as string).toLocaleString('en');
    return `${whole?.startsWith('-') && !grouped.startsWith('-') ? '-' : ''}${grouped}${fraction ? `.${fraction}` : ''} ${this.asset}`;
  }
  toJSON(): string {
    return this.amount.toString();
  }
}

/** Amounts as Money, each asset's decimals read once. */
function moneyBook(deps: Deps): (asset: string, amount: bigint | string) => Promise<Money> {
  const decimals = new Map<string, Promise<number>>();
  return async (asset, amount) => {
    let d = decimals.get(asset);
    if (!d) decimals.set(asset, (d = assetDecimals(deps.db, asset)));
    return new Money(BigInt(amount), asset, await d);
  };
}

/** A mistake in the command line: printed with the usage, exit code 2. */
export class UsageError extends Error {}

/** Every page of a cursor-paginated use case. */
async function everyPage<T>(load: (page: PageRequest) => Promise<Page<T>>): Promise<T[]> {
  const all: T[] = [];
  let after: string | null = null;
  for (;;) {
    const page = await load(pageRequest(100, after));
    all.push(...page.nodes);
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return all;
    after = page.pageInfo.endCursor;
  }
}

const backstopRow = async (deps: Deps, asset: string) => {
  const fund = await backstopOf(deps, asset);
  const money = moneyBook(deps);
  return {
    asset,
    balance: await money(asset, fund.balance),
    target: await money(asset, fund.target),
    iouOutstanding: await money(asset, fund.iouOutstanding),
  };
};

const reorgRow = (r: ReorgRecord) => ({
  id: r.id,
  asset: r.asset,
  fork: r.forkBlock,
  processed: r.processedBlock,
  deposits: r.depositsUndone,
  batches: r.batchesUndone,
  unrecovered: r.unrecovered,
  detected: new Date(r.detectedAt).toISOString(),
  acknowledgedBy: r.acknowledgedBy ?? '',
});

const transferRows = async (deps: Deps, transfers: readonly OutboundTransferRecord[]) => {
  const money = moneyBook(deps);
  return Promise.all(
    transfers.map(async (t) => ({
      id: t.id,
      kind: t.kind,
      state: t.status,
      recipient: t.recipient,
      amount: await money(t.asset, t.amount),
      policy: t.policyId,
      lastError: t.lastError,
    })),
  );
};

/**
 * The operator's daily commands (`npm run admin -- <command>`). Each calls the same use case
 * as the API's admin mutation, as the admin `--as` (default: the first of ADMIN_ADDRESSES), so
 * the same checks, journal entries and audit fields apply.
 */
export const ADMIN_COMMANDS: Record<string, Command> = {
  risks: {
    usage: 'risks',
    needs: 0,
    summary: 'list the risks: state, score (and override), last value',
    database: true,
    run: async (_args, { deps }) => {
      const risks = await everyPage((page) => allRisks(deps as Deps, page));
      // The state the API shows: an ARMED risk no fresh feed watches is DEGRADED.
      const monitoring = await riskMonitoring((deps as Deps).db, risks, (deps as Deps).clock.now());
      return {
        rows: risks.map((r) => ({
          id: r.id,
          name: r.name,
          kind: r.kind,
          state: shownState(r, monitoring.get(r.id) as Monitoring),
          score: effectiveScore(r),
          override: r.scoreOverride === null ? '' : `${r.scoreOverride} (model ${r.modelScore}): ${r.scoreOverrideReason}`,
          lastValue: r.lastValue ?? '',
          lastEvaluatedAt: r.lastEvaluatedAt === null ? '' : new Date(r.lastEvaluatedAt).toISOString(),
        })),
      };
    },
  },
  'override-score': {
    usage: 'override-score <riskId> <score 0-100> <reason...>',
    needs: 3,
    summary: "override a risk's model score; the reason is recorded and shown",
    database: true,
    run: async (args, { deps, admin }) => {
      const [riskId, score, ...reason] = args;
      const r = await overrideRiskScore(deps as Deps, admin, riskId as string, score as string, reason.join(' '));
      return { rows: [{ id: r.id, name: r.name, score: effectiveScore(r), modelScore: r.modelScore, reason: r.scoreOverrideReason }] };
    },
  },
  backstop: {
    usage: 'backstop [asset]',
    needs: 0,
    summary: 'the backstop fund of an asset (default USDC): balance, target, IOUs outstanding',
    database: true,
    run: async (args, { deps }) => ({ rows: [await backstopRow(deps as Deps, args[0] ?? 'USDC')] }),
  },
  'fund-backstop': {
    usage: 'fund-backstop <amount in base units> <reference> [asset]',
    needs: 2,
    summary: "top up the backstop from the platform's capital (idempotent on the reference)",
    database: true,
    run: async (args, { deps, admin }) => {
      const [amount, reference, asset = 'USDC'] = args;
      await fundBackstop(deps as Deps, admin, asset, amount as string, reference as string);
      return { rows: [await backstopRow(deps as Deps, asset)] };
    },
  },
  'record-recovery': {
    usage: 'record-recovery <incidentId> <amount in base units> <reference>',
    needs: 3,
    summary: 'money recovered for a settled incident, distributed as the waterfall says (idempotent on the reference)',
    database: true,
    run: async (args, { deps, admin }) => {
      const [incidentId, amount, ...reference] = args;
      const r = await recordRecovery(deps as Deps, admin, incidentId as string, amount as string, reference.join(' '));
      return { rows: r.parts.map((p) => ({ recovery: r.id, incident: r.incidentId, reference: r.reference, ...p })) };
    },
  },
  unattributed: {
    usage: 'unattributed',
    needs: 0,
    summary: 'plain token transfers into the treasury that no deposit() names, waiting to be assigned',
    database: true,
    run: async (_args, { deps, admin }) => {
      const money = moneyBook(deps as Deps);
      return {
        rows: await Promise.all(
          (await everyPage((page) => unattributed(deps as Deps, admin, page))).map(async (d) => ({
            txHash: d.txHash,
            logIndex: d.logIndex,
            from: d.sender,
            amount: await money(d.asset, d.amount),
            seenAt: new Date(d.seenAt).toISOString(),
          })),
        ),
      };
    },
  },
  'assign-deposit': {
    usage: 'assign-deposit <txHash> <logIndex> <address> <reason...>',
    needs: 4,
    summary: 'credit an unattributed transfer to the wallet it belongs to, with a reason',
    database: true,
    run: async (args, { deps, admin }) => {
      const [txHash, logIndex, address, ...reason] = args;
      if (!/^\d+$/.test(logIndex as string)) throw new UsageError('logIndex must be a whole number');
      const d = await assignDeposit(deps as Deps, admin, {
        txHash: txHash as string,
        logIndex: Number(logIndex),
        address: address as string,
        reason: reason.join(' '),
      });
      return {
        rows: [
          { txHash: d.txHash, logIndex: d.logIndex, status: d.status, beneficiary: d.beneficiary, amount: d.amount, by: d.assignedBy },
        ],
      };
    },
  },
  parked: {
    usage: 'parked',
    needs: 0,
    summary: 'transfers out that the token refused (a blacklisted payee, a paused token), waiting to be retried or redirected',
    database: true,
    run: async (_args, { deps, admin }) => ({
      rows: await transferRows(deps as Deps, await everyPage((page) => parked(deps as Deps, admin, page))),
    }),
  },
  'retry-transfer': {
    usage: 'retry-transfer <transferId> <reason...>',
    needs: 2,
    summary: 'send a parked transfer again to its recipient (the cause is gone), with a reason',
    database: true,
    run: async (args, { deps, admin }) => {
      const [id, ...reason] = args;
      return {
        rows: await transferRows(deps as Deps, [await retryTransfer(deps as Deps, admin, { id: id as string, reason: reason.join(' ') })]),
      };
    },
  },
  'redirect-transfer': {
    usage: 'redirect-transfer <transferId> <address> <reason...>',
    needs: 3,
    summary: 'send a parked transfer to another address the payee named, with a reason',
    database: true,
    run: async (args, { deps, admin }) => {
      const [id, recipient, ...reason] = args;
      const t = await retryTransfer(deps as Deps, admin, { id: id as string, recipient: recipient as string, reason: reason.join(' ') });
      return { rows: await transferRows(deps as Deps, [t]) };
    },
  },
  reorgs: {
    usage: 'reorgs',
    needs: 0,
    summary: 'reorgs deeper than the confirmations that undid counted deposits or batches (open ones stop sales and sends)',
    database: true,
    run: async (_args, { deps, admin }) => ({ rows: (await everyPage((page) => chainReorgs(deps as Deps, admin, page))).map(reorgRow) }),
  },
  'acknowledge-reorg': {
    usage: 'acknowledge-reorg <reorgId> <reason...>',
    needs: 2,
    summary: 'a reorg has been looked at: sales and sends resume (with a reason)',
    database: true,
    run: async (args, { deps, admin }) => {
      const [id, ...reason] = args;
      return { rows: [reorgRow(await acknowledgeReorg(deps as Deps, admin, { id: id as string, reason: reason.join(' ') }))] };
    },
  },
  'rotate-jwt-secret': {
    usage: 'rotate-jwt-secret',
    needs: 0,
    summary: 'a new session key: prints the settings that keep current sessions valid during the rotation',
    database: false,
    run: async (_args, { env }) => {
      const current = env.JWT_SECRET;
      if (!current) throw new UsageError('JWT_SECRET is not set here: run this where the servers get their settings');
      const next = randomBytes(32).toString('hex');
      const ttl = env.JWT_TTL_SECONDS ?? '3600';
      return {
        text: [
          `JWT_SECRET=${next}`,
          `JWT_PREVIOUS_SECRET=${current}`,
          '',
          '# 1. Set both on every API replica and restart them one at a time: new sessions are signed',
          '#    with the new key, sessions signed with the old one are still accepted.',
          `# 2. After JWT_TTL_SECONDS (${ttl} s) every old session has expired: remove JWT_PREVIOUS_SECRET`,
          '#    and restart again.',
        ],
      };
    },
  },
};

/** Runs a command by name: unknown names and missing arguments are usage errors. */
export function runAdminCommand(name: string, args: string[], context: Parameters<Command['run']>[1]): Promise<AdminOutput> {
  const command = ADMIN_COMMANDS[name];
  if (!command) throw new UsageError(`unknown command: ${name}`);
  if (args.length < command.needs) throw new UsageError(`usage: npm run admin -- ${command.usage}`);
  return command.run(args, context);
}

export function adminHelp(): string[] {
  const width = Math.max(...Object.values(ADMIN_COMMANDS).map((c) => c.usage.length));
  return [
    'usage: npm run admin -- <command> [arguments] [--json] [--as <admin address>]',
    '',
    ...Object.values(ADMIN_COMMANDS).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'It works on the database the servers use (DATABASE_URL, or DATA_DIR while no server has it open).',
  ];
}

/** Splits the command line: the command, its arguments, and the shared options. */
export function parseAdminArgs(argv: string[]): { command: string | undefined; args: string[]; json: boolean; as: string | undefined } {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean', default: false }, as: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
    allowPositionals: true,
    strict: true,
  });
  const [command, ...args] = positionals;
  return { command: values.help ? 'help' : command, args, json: values.json ?? false, as: values.as };
}

/** Prints rows as an aligned table (bigints as digits), or as JSON lines of text. */
export function renderOutput(output: AdminOutput, json: boolean): string {
  const plain = (v: unknown) => (typeof v === 'bigint' ? v.toString() : v);
  if ('text' in output) return json ? JSON.stringify({ text: output.text }) : output.text.join('\n');
  if (json) return JSON.stringify(output.rows, (_k, v) => plain(v));
  if (output.rows.length === 0) return '(none)';
  const columns = Object.keys(output.rows[0] as object);
  const cells = output.rows.map((r) => columns.map((c) => String(plain(r[c]) ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}
