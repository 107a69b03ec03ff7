import type { Viewer } from '../src/app/viewer.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { creditAccount } from '../src/app/funding.ts';
import { createPool } from '../src/app/create-pool.ts';
import { deposit } from '../src/app/underwrite.ts';
import { createRisk } from '../src/app/risks.ts';
import { defaultPricing } from '../src/domain/pricing.ts';
import { USDC, createHarness, depegRiskInput, newWallet, watchRisk } from '../test/helpers.ts';

/**
 * The purchase bench's market: a fresh harness with one pool holding capacity for n/2 policies
 * of 100 USDC, and n funded buyers with a quote each, at prices that do not move with
 * utilisation (the race is for capacity, not for price).
 */
export async function purchaseMarket(n: number) {
  const h = await createHarness({ pricing: { ...defaultPricing, quoteTtlSeconds: 3_600, slope1: '0', slope2: '0' } });
  const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
  const risk = await createRisk(h.deps, admin, depegRiskInput('buy', 'BUY') as never);
  await watchRisk(h, risk.id);
  const curator: Viewer = { address: newWallet().address, roles: [] };
  const pool = await createPool(h.deps, curator, { name: 'buy', risks: [{ riskId: risk.id }] });
  // Capacity for exactly n/2 policies of 100 USDC: half the attempts must be refused.
  await creditAccount(h.deps, admin, { address: curator.address, amount: (BigInt(n) * USDC(100)).toString(), reference: 'buy' });
  await deposit(h.deps, curator, pool.id, (BigInt(n) * USDC(100)).toString(), 'SENIOR');
  const buyers: Array<{ v: Viewer; q: Awaited<ReturnType<typeof requestQuote>> }> = [];
  for (let i = 0; i < n; i++) {
    const v: Viewer = { address: newWallet().address, roles: [] };
    await creditAccount(h.deps, admin, { address: v.address, amount: USDC(100).toString(), reference: `buy-${v.address}` });
    buyers.push({ v, q: await requestQuote(h.deps, v, risk.id, USDC(100).toString(), 30) });
  }
  return { h, risk, pool, buyers };
}
