/**
 * `npm run bench`: each figure is measured side by side with a baseline in the same run, on
 * the PostgreSQL server when DATABASE_URL is set (else PGlite), and printed as a ratio with
 * the absolute numbers; a table at the end.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { sql } from 'drizzle-orm';
import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { settleIncident } from '../src/app/settle-incident.ts';
import { findIncident } from '../src/db/incident-store.ts';
import { checkInvariants } from '../src/db/invariants.ts';
import { createWatcher } from '../src/watcher/watcher.ts';
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { ANVIL_KEYS } from '../src/chain/anvil.ts';
import { platformContracts } from '../src/chain/artifacts.ts';
import { erc20Abi, treasuryAbi } from '../src/chain/abis.ts';
import { chainRailOf, localTreasury, treasuryGatewayOf } from '../test/chain-helpers.ts';
import { syncTreasury } from '../src/app/treasury-sync.ts';
import { bulkMarket } from '../test/bulk-policies.ts';
import { httpThroughput, median, spread } from './http.ts';
import { purchaseMarket } from './purchase-market.ts';
import { yearAgain, yearOne } from './year-one.ts';
import { settleBeside, settlementFigure } from './settle-round.ts';
import { USDC, createHarness, newWallet, SERVER_URL } from '../test/helpers.ts';

const rows: Array<{ figure: string; ours: string; baseline: string; ratio: string; goal: string; met: boolean }> = [];
const fmt = (n: number, unit: string) => `${n.toFixed(n < 10 ? 2 : 0)} ${unit}`;
function record(figure: string, ours: string, baseline: string, ratio: number, goal: string, met: boolean) {
  rows.push({ figure, ours, baseline, ratio: ratio.toFixed(2), goal, met });
  console.log(`${figure}: ours ${ours}, baseline ${baseline}, ratio ${ratio.toFixed(2)} (goal ${goal}) ${met ? 'met' : 'NOT met'}`);
}
const timed = async (run: () => Promise<unknown>) => {
  const t = performance.now();
  await run();
  return performance.now() - t;
};

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Rounds of each size in the opt-in settlement at scale (minutes each at 1,000,000). */
const SCALE_ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS ?? 3);

/** One round on a fresh database (settleBeside, bench/settle-round.ts). */
async function settlementRound(n: number, bareFirst: boolean) {
  const h = await createHarness();
  try {
    return await settleBeside(h, n, bareFirst);
  } finally {
    await h.close();
  }
}

async function settlement(n: number) {
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await settlementRound(n, i % 2 === 0));
  const f = settlementFigure(rounds);
  record(
    `settle ${n.toLocaleString('en')} policies (median of ${ROUNDS} rounds, range; ratio per round ${f.perRound})`,
    f.ours,
    f.bare,
    f.ratio,
    '<= 1.5x',
    f.ratio <= 1.5,
  );
  console.log(
    `  then crediting the ${n.toLocaleString('en')} payouts to wallets, off the settlement path: ${spread(
      rounds.map((r) => r.credit),
      'ms',
    )}`,
  );
}

/**
 * Settlement at scale (opt-in: BENCH_ONLY=scale; it takes minutes): 100,000 and 1,000,000
 * policies in one incident, each settled in a process of its own (bench/settle-child.ts) so
 * that its peak RSS is the settlement's. Memory must stay flat and time per policy must not
 * grow. On the PostgreSQL server only (PGlite is one process's).
 */
async function settlementAtScale(sizes: number[]) {
  if (!SERVER_URL) {
    console.log('settlement at scale: needs the PostgreSQL server (DATABASE_URL); not measured');
    return;
  }
  const runs: Array<{ n: number; ms: number; maxRssMiB: number }> = [];
  // Rounds alternate the sizes (small, big, small, big, ...), so a drift of the host over the
  // minutes this takes falls on both.
  for (let round = 0; round < SCALE_ROUNDS; round++)
    for (const n of sizes) {
      const h = await createHarness();
      try {
        const { feed } = await bulkMarket(h, 1, n);
        h.clock.advance(1000);
        const { incidents } = await recordObservations(
          h.deps,
          feed.id,
          [{ value: '0.5', observedAt: h.clock.now() - 500, source: {} }],
          false,
        );
        // Both sizes settle a table as a live one is, vacuumed and analysed, with the bulk
        // load's WAL checkpointed: what is measured is the settlement, not autovacuum or a
        // checkpoint of the load running beside it.
        await h.db.query(sql`VACUUM ANALYZE policies`);
        await h.db.query(sql`CHECKPOINT`);
        const out = execFileSync(
          process.execPath,
          [
            '--import',
            'tsx',
            'bench/settle-child.ts',
            (h.db as { url?: string }).url as string,
            incidents[0] as string,
            String(h.clock.now()),
          ],
          { cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8', maxBuffer: 2 ** 20 },
        );
        const r = JSON.parse(out.trim().split('\n').at(-1) as string) as { ms: number; maxRssMiB: number; paid: number };
        if (r.paid !== n) throw new Error(`settled ${r.paid} of ${n}`);
        if ((await checkInvariants(h.db)).length > 0) throw new Error('invariants broken');
        runs.push({ n, ms: r.ms, maxRssMiB: r.maxRssMiB });
        console.log(`  settled ${n.toLocaleString('en')} in ${(r.ms / 1000).toFixed(1)} s, peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
      } finally {
        await h.close();
      }
    }
  const [smallN, bigN] = sizes as [number, number];
  const perPolicy = (n: number) => runs.filter((r) => r.n === n).map((r) => (r.ms * 1000) / r.n);
  const timeRatios = perPolicy(bigN).map((b, i) => b / (perPolicy(smallN)[i] as number));
  const timeRatio = median(perPolicy(bigN)) / median(perPolicy(smallN));
  record(
    `settle ${bigN.toLocaleString('en')} vs ${smallN.toLocaleString('en')} policies: time per policy (median of ${SCALE_ROUNDS} rounds, range; ratio per round ${timeRatios.map((r) => r.toFixed(2)).join(', ')})`,
    spread(perPolicy(bigN), 'µs', 2),
    spread(perPolicy(smallN), 'µs', 2),
    timeRatio,
    '<= 1.1 (no worse)',
    timeRatio <= 1.1,
  );
  const peak = (n: number) => Math.max(...runs.filter((r) => r.n === n).map((r) => r.maxRssMiB));
  const memRatio = peak(bigN) / peak(smallN);
  record(
    `settle ${bigN.toLocaleString('en')} vs ${smallN.toLocaleString('en')} policies: peak RSS of the settling process`,
    `${peak(bigN).toFixed(0)} MiB`,
    `${peak(smallN).toFixed(0)} MiB`,
    memRatio,
    '<= 1.2 (flat)',
    memRatio <= 1.2,
  );
}

async function confirmationRound(n: number) {
  const h = await createHarness();
  const { feed } = await bulkMarket(h, 1, n);
  const watcher = createWatcher(h.deps, { reader: { read: async () => [] }, intervalMs: 20 });
  watcher.start();
  await new Promise((r) => setTimeout(r, 200));
  h.clock.advance(1000);
  const t0 = performance.now();
  const { incidents } = await recordObservations(h.deps, feed.id, [{ value: '0.5', observedAt: h.clock.now() - 500, source: {} }], false);
  for (;;) {
    if ((await findIncident(h.db, incidents[0] as string))?.status === 'SETTLED') break;
    await new Promise((r) => setTimeout(r, 5));
  }
  const ms = performance.now() - t0;
  await watcher.stop();
  await h.close();
  return ms;
}

async function confirmationToPaid(n: number) {
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await confirmationRound(n));
  // The goal is 1 s for 10,000 policies; larger incidents are held to the same rate.
  const goalMs = 1000 * Math.max(1, n / 10_000);
  const worst = Math.max(...rounds);
  record(
    `confirming observation -> ${n.toLocaleString('en')} paid (median of ${ROUNDS} rounds, range)`,
    spread(rounds, 'ms'),
    fmt(goalMs, 'ms'),
    median(rounds) / goalMs,
    `< ${goalMs / 1000} s, every round`,
    worst < goalMs,
  );
}

async function quoteLatency(total = 100_000) {
  const h = await createHarness();
  const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
  const { risk, poolIds } = await bulkMarket(h, 1, 1_000);
  const viewer: Viewer = { address: newWallet().address, roles: [] };
  const sample = async () => {
    const times: number[] = [];
    for (let i = 0; i < 200; i++) times.push(await timed(() => requestQuote(h.deps, viewer, risk.id, USDC(100).toString(), 30)));
    times.sort((a, b) => a - b);
    return times[100] as number;
  };
  const at1k = await sample();
  // Grow the same pool to `total` active policies.
  const more = await bulkMarket(h, 1, total - 1_000);
  await h.db.query(
    sql`UPDATE policies SET pool_id = ${poolIds[0] as string}, risk_id = ${risk.id} WHERE pool_id = ${more.poolIds[0] as string}`,
  );
  await h.db.query(
    // The rows are what is measured, not the utilisation: above 100k the aggregate stays at
    // 100k policies' exposure, so a million 1,000 USDC policies do not fill the pool's cap.
    sql`UPDATE pool_risks SET exposure = exposure + ${(BigInt(Math.min(total, 100_000) - 1_000) * USDC(1_000)).toString()}::numeric WHERE pool_id = ${poolIds[0] as string}`,
  );
  // As a live table is: vacuumed and analysed after a bulk rewrite (autovacuum would, later).
  await h.db.query(sql`VACUUM ANALYZE policies`);
  await h.db.query(sql`VACUUM ANALYZE pool_risks`);
  const count = await h.db.query<{ n: string }>(
    sql`SELECT COUNT(*) AS n FROM policies WHERE pool_id = ${poolIds[0] as string} AND status = 'ACTIVE'`,
  );
  const at100k = await sample();
  void admin;
  await h.close();
  record(
    `quote latency, 1k vs ${Number(count[0]?.n).toLocaleString('en')} active policies (median)`,
    fmt(at100k, 'ms'),
    fmt(at1k, 'ms'),
    at100k / at1k,
    'no growth (<= 1.2)',
    at100k / at1k <= 1.2,
  );
}

/**
 * One round: a fresh market with capacity for n/2 policies of 100 USDC and n quotes, then n
 * concurrent purchases and n bare transactions doing the same row writes, in the given order.
 */
async function purchaseRound(n: number, bareFirst: boolean) {
  const { h, risk, pool, buyers } = await purchaseMarket(n);
  let sold = 0;
  const ours = () =>
    timed(() =>
      Promise.all(
        buyers.map((b) =>
          purchasePolicy(h.deps, b.v, b.q.id).then(
            () => sold++,
            () => undefined,
          ),
        ),
      ),
    );
  // Baseline: the same row writes per purchase (policy, three aggregates, journal entry and
  // postings, three balances) in bare transactions at the same concurrency, without checks.
  await h.db.query(sql`CREATE TABLE bench_policies (LIKE policies INCLUDING DEFAULTS)`);
  const bare = () =>
    timed(() =>
      Promise.all(
        buyers.map((b, i) =>
          h.db.transaction(async (tx) => {
            await tx.query(sql`SELECT 1 FROM pools WHERE id = ${pool.id} FOR UPDATE`);
            await tx.query(sql`INSERT INTO bench_policies (id, quote_id, buyer, risk_id, pool_id, amount, exposure, premium, fee, earning_rate_wad, earning_dust_wad, start_at, end_at, status, created_at)
              VALUES (${`b${i}`}, ${b.q.id}, ${b.v.address}, ${risk.id}, ${pool.id}, 1, 1, 1, 0, 0, 0, now(), now() + interval '30 days', 'ACTIVE', now())`);
            await tx.query(sql`UPDATE pools SET total_exposure = total_exposure WHERE id = ${pool.id}`);
            await tx.query(sql`UPDATE pool_risks SET exposure = exposure WHERE pool_id = ${pool.id}`);
            await tx.query(sql`UPDATE pool_group_exposure SET exposure = exposure WHERE pool_id = ${pool.id}`);
            await tx.query(sql`INSERT INTO journal_entries (id, kind, created_at) VALUES (${`je_b${i}`}, 'BENCH', now())`);
            await tx.query(
              sql`INSERT INTO postings (entry_id, account_id, amount, at) VALUES (${`je_b${i}`}, ${`external:USDC`}, -1, now()), (${`je_b${i}`}, ${`external:USDC`}, 1, now())`,
            );
            await tx.query(
              sql`UPDATE accounts SET balance = balance WHERE id IN (${`wallet:USDC:${b.v.address}`}, 'fees:USDC', ${`upr:${pool.id}`})`,
            );
          }),
        ),
      ),
    );
  // An object literal's values are evaluated in the order written.
  const ms = bareFirst ? { bare: await bare(), ours: await ours() } : { ours: await ours(), bare: await bare() };
  const exposure = (await h.db.query<{ e: string }>(sql`SELECT exposure AS e FROM pool_risks WHERE pool_id = ${pool.id}`))[0]?.e;
  const cap = (BigInt(n) * USDC(100)) / 2n;
  await h.close();
  return { ours: (n / ms.ours) * 1000, bare: (n / ms.bare) * 1000, sold, oversold: BigInt(exposure ?? '0') > cap };
}

/** Purchases against bare transactions, in ROUNDS rounds that alternate which side goes first. */
async function purchaseThroughput(n: number) {
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await purchaseRound(n, i % 2 === 1));
  const ratios = rounds.map((r) => r.ours / r.bare);
  const ratio = median(ratios);
  const exact = rounds.every((r) => r.sold === n / 2 && !r.oversold);
  record(
    `purchase throughput (${n} concurrent for ${n / 2} slots, median of ${ROUNDS} rounds, range; ratio per round ${ratios.map((r) => r.toFixed(2)).join(', ')}; sold ${rounds.map((r) => r.sold).join(', ')})`,
    spread(
      rounds.map((r) => r.ours),
      'purchases/s',
    ),
    spread(
      rounds.map((r) => r.bare),
      'tx/s',
    ),
    ratio,
    '>= 0.75, no oversell',
    ratio >= 0.75 && exact,
  );
}

/**
 * Gas per payment: one `pay` batch of `n` payments to fresh addresses against `n` plain
 * ERC-20 transfers to other fresh addresses (the same cold-slot cost per recipient), both
 * from the same token on the same local chain (anvil from npm, contracts from source).
 */
async function gasPerPayout(n: number) {
  const [ownerKey] = ANVIL_KEYS as [Hex];
  const owner = privateKeyToAccount(ownerKey);
  const chain = await localTreasury(owner.address);
  try {
    const gasOf = async (address: Hex, abi: readonly unknown[], functionName: string, args: unknown[]) =>
      (await chain.send(ownerKey, address, abi, functionName, args)).gasUsed;
    const mintAbi = platformContracts().TestStablecoin.abi;
    await gasOf(chain.token, mintAbi, 'mint', [chain.treasury, 10n ** 15n]);
    await gasOf(chain.token, mintAbi, 'mint', [owner.address, 10n ** 15n]);
    const fresh = () => privateKeyToAccount(generatePrivateKey()).address;
    const batchGas = await gasOf(chain.treasury, treasuryAbi, 'pay', [
      0n,
      Array.from({ length: n }, fresh),
      Array.from({ length: n }, () => 1_000_000n),
    ]);
    let plainGas = 0n;
    for (let i = 0; i < n; i++) plainGas += await gasOf(chain.token, erc20Abi, 'transfer', [fresh(), 1_000_000n]);
    const ours = Number(batchGas) / n;
    const plain = Number(plainGas) / n;
    record(
      `gas per payout (batch of ${n})`,
      fmt(ours, 'gas'),
      fmt(plain, 'gas per plain transfer'),
      ours / plain,
      '< 1 (batching cheaper)',
      ours < plain,
    );
  } finally {
    await chain.anvil.stop();
  }
}

/**
 * Confirmation -> `n` payouts confirmed on chain: an incident over `n` policies settled with
 * chain settlement on anvil mining a block a second, the payouts sent by the watcher's sender
 * (its sync step in a loop, batches of 500, 3 confirmations) until every transfer is
 * CONFIRMED. Baseline: the same payments sent by a bare script as the same `pay` batches,
 * all at once on consecutive nonces (on the same treasury, first), awaited to the same
 * confirmations: what the chain allows.
 */
async function chainPayouts(n: number) {
  const BATCH = 500;
  const CONFIRMATIONS = 3;
  const [ownerKey] = ANVIL_KEYS as [Hex];
  const owner = privateKeyToAccount(ownerKey);
  // Both sides pay n x 500 USDC: a cap above that, so the daily payout cap never holds a batch.
  const chain = await localTreasury(owner.address, ['--block-time', '1', '--gas-limit', '60000000'], {
    payoutCap: 4n * BigInt(n) * USDC(1_000),
  });
  const h = await createHarness();
  try {
    const { pub, treasury } = chain;
    const wallet = chain.walletOf(ownerKey);
    // The market is built on the ledger (bulk policies, premiums from outside), then the
    // platform settles on chain: the treasury is minted what the baseline and the payouts need.
    const { feed } = await bulkMarket(h, 1, n);
    await chain.send(ownerKey, chain.token, platformContracts().TestStablecoin.abi, 'mint', [treasury, 2n * BigInt(n) * USDC(1_000)]);
    h.deps.config = { ...h.deps.config, rail: chainRailOf(chain, { confirmations: CONFIRMATIONS, batchSize: BATCH }) };
    h.deps.treasury = treasuryGatewayOf(chain, owner);

    // The chain's limit: every batch sent at once on consecutive nonces (the contract takes
    // them in order), then the last one awaited to the same confirmations. It spends the
    // treasury's first batch numbers; the sender then starts from the next.
    const bareMs = await timed(async () => {
      const nonce = await pub.getTransactionCount({ address: owner.address, blockTag: 'pending' });
      const hashes: Hex[] = [];
      for (let b = 0; b < Math.ceil(n / BATCH); b++) {
        const size = Math.min(BATCH, n - b * BATCH);
        hashes.push(
          await wallet.writeContract({
            address: treasury,
            abi: treasuryAbi,
            functionName: 'pay',
            nonce: nonce + b,
            gas: 20_000_000n,
            args: [
              BigInt(b),
              Array.from({ length: size }, (_, i) => `0x${(b * BATCH + i + 1).toString(16).padStart(40, '0')}` as Hex),
              Array.from({ length: size }, () => USDC(500)),
            ],
          }),
        );
      }
      const receipts = await Promise.all(hashes.map((hash) => pub.waitForTransactionReceipt({ hash })));
      if (receipts.some((r) => r.status !== 'success')) throw new Error('a bare pay batch reverted');
      const last = receipts.reduce((m, r) => (r.blockNumber > m ? r.blockNumber : m), 0n);
      while ((await pub.getBlockNumber()) < last + BigInt(CONFIRMATIONS - 1)) await new Promise((r) => setTimeout(r, 100));
    });

    h.clock.advance(1000);
    const { incidents } = await recordObservations(h.deps, feed.id, [{ value: '0.5', observedAt: h.clock.now() - 500, source: {} }], false);
    const ours = await timed(async () => {
      await settleIncident(h.deps, incidents[0] as string);
      // A sender stuck (a held batch, a failure loop) fails the figure instead of hanging the bench.
      const deadline = Date.now() + 10 * 60_000;
      for (;;) {
        if (Date.now() > deadline) throw new Error('payouts on chain: not all confirmed within 10 minutes');
        await syncTreasury(h.deps);
        const left = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM outbound_transfers WHERE status <> 'CONFIRMED'`);
        if (Number(left[0]?.n) === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    const sent = await h.db.query<{ n: string }>(sql`SELECT COUNT(*) AS n FROM outbound_transfers WHERE status = 'CONFIRMED'`);
    if (Number(sent[0]?.n) !== n) throw new Error(`expected ${n} confirmed payouts, found ${sent[0]?.n}`);
    record(
      `confirmation -> ${n} payouts confirmed on chain (1 s blocks, ${CONFIRMATIONS} confirmations, batches of ${BATCH})`,
      fmt(ours / 1000, 's'),
      fmt(bareMs / 1000, 's bare pay batches, pipelined'),
      ours / bareMs,
      '<= 2',
      ours / bareMs <= 2,
    );
  } finally {
    await h.close();
    await chain.anvil.stop();
  }
}

console.log(
  `bench on ${SERVER_URL ? 'the PostgreSQL server' : 'PGlite'}; ${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
);
// BENCH_ONLY=settle,confirm,quote,purchase,latency,gas,chain runs a subset (all by default);
// scale (settling 1,000,000 policies) runs only when named.
const only = new Set((process.env.BENCH_ONLY ?? 'settle,confirm,quote,purchase,latency,gas,chain').split(','));
if (only.has('settle')) await settlement(Number(process.env.BENCH_SETTLE ?? 100_000));
if (only.has('confirm')) for (const n of [10_000, 100_000]) await confirmationToPaid(n);
if (only.has('quote')) await httpThroughput(record);
if (only.has('purchase')) await purchaseThroughput(1_000);
if (only.has('latency')) await quoteLatency(Number(process.env.BENCH_LATENCY_AT ?? 100_000));
if (only.has('gas')) await gasPerPayout(100);
if (only.has('chain')) await chainPayouts(10_000);
// Opt-in (tens of minutes, on the server): BENCH_ONLY=year, a year of a busy deployment (bench/year-one.ts).
if (only.has('year')) await yearOne(record);
// BENCH_ONLY=year-again: quotes on a kept bench_year from servers just started (bench/year-one.ts).
if (only.has('year-again')) await yearAgain(record);
// Opt-in (minutes): BENCH_ONLY=scale.
if (only.has('scale')) {
  const scale = Number(process.env.BENCH_SCALE ?? 1_000_000);
  await settlementAtScale([Number(process.env.BENCH_SCALE_BASE ?? 100_000), scale]);
  await quoteLatency(scale);
}
console.log('\n| figure | ours | baseline | ratio | goal | met |\n|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.figure} | ${r.ours} | ${r.baseline} | ${r.ratio} | ${r.goal} | ${r.met ? 'yes' : 'no'} |`);
process.exit(0);
