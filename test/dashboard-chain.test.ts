import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { privateKeyToAccount } from 'viem/accounts';
import { type DemoMarket, demoFaucet, replayDepeg, seedDemoMarket } from '../src/demo/market.ts';
import { payoutTransfersOf } from '../src/app/payout-transfers.ts';
import { syncTreasury } from '../src/app/treasury-sync.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { purchasePolicy } from '../src/app/purchase-policy.ts';
import { findPolicy } from '../src/db/cover-store.ts';
import { deposit } from '../src/app/underwrite.ts';
import { positionTokenAbi } from '../src/chain/position-token.ts';
import { positionTokenIdOf } from '../src/domain/position-token.ts';
import { ANVIL_MINTER_KEY, ANVIL_OPERATOR_KEY } from '../src/chain/anvil.ts';
import { type DemoChain, startDemoChain } from '../src/bin/demo-chain.ts';
import { closeApp, createApp } from '../src/http/create-app.ts';
import { createWatcher } from '../src/watcher/watcher.ts';
import { injectWallet, launchBrowser } from './browser.ts';
import { chainHarness } from './chain-helpers.ts';
import { type Harness, assertLedgerInvariants, newWallet, serve, waitFor } from './helpers.ts';
import { LOCAL_CHAIN_ID } from '../src/chain/anvil.ts';

const ARTIFACTS = new URL('./artifacts/', import.meta.url).pathname;

/**
 * `npm run demo`'s chain: anvil, the test USDC and the treasury, every demo person depositing
 * from their own wallet; the replayed depeg pays the buyers on chain, and the dashboard shows
 * the deposits, the payouts' transactions and the treasury against the ledger.
 */
describe('the dashboard on the demo market settled on chain, in a real browser', () => {
  let chain: DemoChain;
  let dir: string;
  let h: Harness;
  let market: DemoMarket;
  let app: ReturnType<typeof createApp>;
  let served: Awaited<ReturnType<typeof serve>>;
  let browser: Browser;
  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'demo-chain-'));
    chain = await startDemoChain(dir);
    h = await chainHarness(chain, {
      confirmations: Number(chain.env.CONFIRMATIONS),
      batchSize: 100,
      operator: privateKeyToAccount(ANVIL_OPERATOR_KEY),
      policyToken: { address: chain.policyToken, minter: privateKeyToAccount(ANVIL_MINTER_KEY) },
      positionToken: { address: chain.positionToken, minter: privateKeyToAccount(ANVIL_MINTER_KEY) },
    });
    // On the wall clock from the start, as the browser's sign-in is (see test/dashboard.test.ts).
    h.clock.catchUpWithWallClock();
    market = await seedDemoMarket(h.deps, h.admin.address, chain.funding(h.deps));
    app = createApp(h.deps, {
      rateLimitPerMinute: 0,
      demoPeople: market.people,
      demoFaucet: demoFaucet(h.deps, h.admin.address, chain.funding(h.deps), chain.fillWallet),
    });
    served = await serve(app);
    (h.deps.config.siwe.domains as string[]).push(new URL(served.base).host);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    served?.close();
    if (app) await closeApp(app);
    await h?.close();
    await chain?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('deposits from wallets, the depeg paid on chain with its transaction, and the treasury reconciled on the page', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${served.base}/`);
    await page.waitForSelector('#live.on');
    await page.waitForSelector('#chain [data-reserves="ok"]');
    assert.match((await page.textContent('#treasury')) ?? '', new RegExp(`Treasury ${chain.treasury}`));

    const buyer = market.policies[0] as DemoMarket['policies'][number];
    await page.selectOption('#demo-person', buyer.buyer.address);
    await page.click('#demo-go');
    // The buyer's own deposit, credited after its confirmations, with its transaction.
    await page.waitForSelector('#my-chain [data-transfer="DEPOSIT"] td[data-tx]');
    assert.match((await page.textContent('#my-chain')) ?? '', /DEPOSIT\s*5,000 USDC\s*CREDITED/);

    await replayDepeg(h.deps, market, { now: () => h.clock.now(), pause: async () => h.clock.advance(1000) });
    const watcher = createWatcher(h.deps, { reader: { read: async () => [] }, intervalMs: 60_000 });
    // The policies are tokens: the settlement waits for the token indexer to pass the
    // confirmation; then the sender's batch, then its confirmations (a block a second).
    const transfer = await waitFor(
      'the payout confirmed on chain',
      async () => {
        await syncTreasury(h.deps);
        await watcher.tick();
        const t = (await payoutTransfersOf(h.deps, [buyer.policy.id])).get(buyer.policy.id);
        return t?.status === 'CONFIRMED' ? t : undefined;
      },
      30_000,
    );
    await watcher.stop();
    assert.equal(await chain.balanceOf(buyer.buyer.address), transfer.amount, 'the payout is in the buyer wallet');
    // The page learns of the confirmation on its next refresh: wait for the cell to say so.
    const cell = page.locator(`#my-policies [data-policy="${buyer.policy.id}"] td[data-tx]`, { hasText: /^CONFIRMED 0x/ });
    await cell.waitFor();
    assert.equal(await cell.getAttribute('data-tx'), transfer.txHash);
    assert.match((await cell.textContent()) ?? '', /^CONFIRMED 0x/);
    await page.waitForSelector(`#my-chain [data-transfer="PAYOUT"] td[data-tx="${transfer.txHash}"]`);
    await page.screenshot({ path: `${ARTIFACTS}demo-chain-payout.png`, fullPage: true });

    // An admin reads the chain now (the public is answered from a measurement up to 2 s old).
    const { reserves } = await h.ok('{ reserves { treasuryBalance surplus deficit } }', {}, await h.signIn(h.admin));
    assert.equal(BigInt(reserves.treasuryBalance), await chain.balanceOf(chain.treasury));
    assert.deepEqual([reserves.surplus, reserves.deficit], ['0', '0']);
    await assertLedgerInvariants(h.db);
    await page.close();
    assert.deepEqual(errors, []);
  });

  test('a visitor deposits from their own wallet into the treasury and withdraws back to it, from the page', async () => {
    // The page dates its sign-in message by the browser's clock: the server's must agree.
    h.clock.catchUpWithWallClock();
    const visitor = newWallet();
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    const wallet = await injectWallet(page, visitor.key, { chainId: LOCAL_CHAIN_ID, rpcUrl: chain.url });
    await page.goto(`${served.base}/`);
    await page.waitForSelector('#live.on');
    const adminToken = await h.signIn(h.admin);
    await page.getByRole('button', { name: 'Connect wallet and sign in' }).click();
    // The faucet deposits into the treasury for the visitor and puts test tokens in their wallet.
    await page.waitForSelector('#notice[data-outcome="ok"]', { timeout: 30_000 });
    assert.match(
      (await page.textContent('#notice')) ?? '',
      /10,000 USDC credited to your balance on the platform, and 1,000 test USDC put in your wallet on chain/,
    );
    assert.equal(await chain.balanceOf(visitor.address), 1_000_000_000n);
    await page.waitForSelector('#chain-money:not([hidden])');
    // Every action has one button a person (or a script) can find by its name.
    for (const name of [/sign out/i, /quote/i, /move in/i, /move out/i])
      assert.equal(await page.getByRole('button', { name }).count(), 1, `one button named ${name}`);
    // Capital has a view of its own.
    await page.click('#roles a[data-role="provide"]');
    await page.waitForSelector('body[data-view="provide"]', { state: 'attached' });
    for (const name of [/^deposit$/i, /request withdrawal/i, /sign out/i, /move in/i, /move out/i])
      assert.equal(await page.getByRole('button', { name }).count(), 1, `one button named ${name} for providers`);
    await page.click('#roles a[data-role="buy"]');
    await page.waitForSelector('body[data-view="buy"]', { state: 'attached' });
    // Signed in, the way in is gone; the wallet's own token balance is shown.
    assert.equal(await page.getByRole('button', { name: /sign in/i }).count(), 0);
    await page.waitForSelector('#chain-balance[data-balance="1000000000"]');

    // From the wallet: approve and deposit, two transactions the wallet sends; the indexer
    // (the watcher's job, run here) credits it after its confirmations.
    await page.fill('#chain-amount', '250');
    await page.getByRole('button', { name: 'Move in from my wallet' }).click();
    await page.waitForSelector('#chain-result[data-outcome="ok"]', { timeout: 30_000 });
    assert.match((await page.textContent('#chain-result')) ?? '', /^Deposit of 250 USDC sent from your wallet \(transaction 0x/);
    assert.equal(wallet.sent.length, 2, 'approve, then deposit');
    assert.equal(await chain.balanceOf(visitor.address), 750_000_000n);
    await waitFor(
      'the deposit credited',
      async () => {
        await syncTreasury(h.deps);
        const { chainDeposits } = await h.ok(
          `{ chainDeposits(address: "${visitor.address}") { credited { nodes { txHash amount } } } }`,
          {},
          adminToken,
        );
        return chainDeposits.credited.nodes.some((d: { txHash: string }) => d.txHash === wallet.sent[1]);
      },
      20_000,
    );
    await page.waitForSelector(`#my-chain td[data-tx="${wallet.sent[1]}"]`);
    await page.waitForSelector('#wallet[data-balance="10250000000"]');

    // Back to the wallet: queued, sent in a batch, confirmed; the tokens are in the wallet.
    await page.fill('#chain-amount', '100');
    await page.getByRole('button', { name: 'Move out to my wallet' }).click();
    await page.waitForSelector('#chain-result[data-outcome="ok"]');
    assert.match((await page.textContent('#chain-result')) ?? '', /^Withdrawal of 100 USDC to 0x[0-9a-fA-F]{40} is QUEUED/);
    await waitFor(
      'the withdrawal in the wallet',
      async () => {
        await syncTreasury(h.deps);
        return (await chain.balanceOf(visitor.address)) === 850_000_000n;
      },
      20_000,
    );
    await page.waitForSelector('#my-chain [data-transfer="WITHDRAWAL"] td[data-tx]');

    // A policy bought is minted to the visitor's wallet; they hand it on from the wallet (transferFrom).
    const me = { address: visitor.address, roles: [] };
    const policy = await purchasePolicy(h.deps, me, (await requestQuote(h.deps, me, market.risks.dai.id, '1000000000', 30)).id);
    await waitFor(
      'the policy minted',
      async () => {
        await syncTreasury(h.deps);
        return (await findPolicy(h.db, policy.id))?.minted;
      },
      20_000,
    );
    await page.reload();
    await page.waitForSelector(`#my-policies [data-policy="${policy.id}"] [data-minted="true"]`);
    const heir = newWallet();
    await page.fill(`[data-transfer-to="${policy.id}"]`, heir.address);
    await page.click(`[data-transfer-policy="${policy.id}"]`);
    await page.waitForSelector('#policy-transfer-result:is([data-outcome="ok"], [data-outcome="refused"])', { timeout: 30_000 });
    assert.match((await page.textContent('#policy-transfer-result')) ?? '', /^Policy token sent to 0x[0-9a-fA-F]{40} \(transaction 0x/);
    assert.equal(wallet.sent.length, 3, 'approve, deposit, then the policy token transfer');
    await waitFor(
      'the new holder indexed',
      async () => {
        await syncTreasury(h.deps);
        return (await findPolicy(h.db, policy.id))?.holder === heir.address;
      },
      20_000,
    );
    await page.waitForSelector(`#my-policies [data-policy="${policy.id}"]`, { state: 'detached' });

    // A provider's free shares as ERC-1155 tokens in their wallet, from the position's row.
    const poolId = market.poolIds[0] as string;
    await deposit(h.deps, me, poolId, '2000000000', 'SENIOR');
    await page.reload();
    await page.click('#roles a[data-role="provide"]');
    await page.click(`[data-issue-tokens="${poolId}:SENIOR"]`);
    await page.waitForSelector('#withdraw-result:is([data-outcome="ok"], [data-outcome="refused"])', { timeout: 30_000 });
    assert.match((await page.textContent('#withdraw-result')) ?? '', /is being issued to your wallet as tokens \(contract 0x/);
    const id = positionTokenIdOf(poolId, 'SENIOR') as bigint;
    await waitFor(
      'the position tokens in the wallet',
      async () => {
        await syncTreasury(h.deps);
        const held = await h.deps.treasury?.client.readContract({
          address: chain.positionToken,
          abi: positionTokenAbi,
          functionName: 'balanceOf',
          args: [visitor.address as `0x${string}`, id],
        });
        return (held ?? 0n) > 0n;
      },
      20_000,
    );
    await page.screenshot({ path: `${ARTIFACTS}demo-chain-wallet.png`, fullPage: true });
    await assertLedgerInvariants(h.db);
    const { reserves } = await h.ok('{ reserves { deficit } }', {}, adminToken);
    assert.equal(reserves.deficit, '0');
    await page.close();
    assert.deepEqual(errors, []);
  });
});
