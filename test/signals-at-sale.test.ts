import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createPool } from '../src/app/create-pool.ts';
import { creditAccount } from '../src/app/funding.ts';
import { recordObservations } from '../src/app/record-observations.ts';
import { registerFeed } from '../src/app/register-feed.ts';
import { requestQuote } from '../src/app/request-quote.ts';
import { setRiskFeeds } from '../src/app/risk-feeds.ts';
import { createRisk } from '../src/app/risks.ts';
import { deposit } from '../src/app/underwrite.ts';
import type { Viewer } from '../src/app/viewer.ts';
import { isBaseError } from '../src/domain/errors.ts';
import { USDC, newWallet, useHarness } from './helpers.ts';

/**
 * Issue 57, item 4: the point of sale watches every signal of a risk, not only its own rule. A
 * smart-contract-failure risk whose second signal (a token balance the protocol holds, at 0.5
 * of its reference) reads 0.51 is as near its trigger as its own share price at 0.51: cover is
 * refused, and the refusal names the signal.
 */
describe('every signal at the point of sale', () => {
  const h = useHarness();

  test('a second signal near its trigger refuses cover and names itself; back from it, cover is sold again', async () => {
    const admin: Viewer = { address: h.admin.address, roles: ['admin'] };
    const risk = await createRisk(h.deps, admin, {
      name: 'vault with a balance signal',
      kind: 'SMART_CONTRACT_FAILURE',
      correlationGroup: 'VAULT-SIGNALS',
      rule: { threshold: '0.5', direction: 'BELOW', recoveryThreshold: '0.9', window: 3600, payout: 'BINARY' },
      signals: [
        { name: 'balance', rule: { threshold: '0.5', direction: 'BELOW', recoveryThreshold: '0.9', window: 3600, payout: 'BINARY' } },
      ],
      score: {
        audits: 3,
        daysLive: 1_200,
        valueSecuredUsd: '400000000',
        pastIncidents: 0,
        oracleQuality: 'HIGH',
        centralisation: 'MEDIUM',
      },
      maxStalenessSeconds: 86_400,
      protocolCategory: 'YIELD',
    });
    const own = await registerFeed(h.deps, admin, { name: 'share price', kind: 'PUSH' });
    const balance = await registerFeed(h.deps, admin, { name: 'balance', kind: 'PUSH' });
    await setRiskFeeds(h.deps, admin, risk.id, [own.id]);
    await setRiskFeeds(h.deps, admin, risk.id, [balance.id], 'balance');
    const curator: Viewer = { address: newWallet().address, roles: [] };
    const pool = await createPool(h.deps, curator, { name: 'signals pool', risks: [{ riskId: risk.id }] });
    await creditAccount(h.deps, admin, { address: curator.address, amount: USDC(100_000).toString(), reference: 'curator' });
    await deposit(h.deps, curator, pool.id, USDC(100_000).toString(), 'SENIOR');
    const buyer: Viewer = { address: newWallet().address, roles: [] };
    const observe = async (feedId: string, value: string) => {
      h.clock.advance(1_000);
      await recordObservations(h.deps, feedId, [{ value, observedAt: h.clock.now(), source: { kind: 'TEST' } }], false);
    };
    const quote = () => requestQuote(h.deps, buyer, risk.id, USDC(5_000).toString(), 30);

    await observe(own.id, '1');
    await observe(balance.id, '1');
    const calm = await quote();
    assert.ok(calm.premium > 0n);

    // The balance at 0.51 of its reference: 2% from its trigger, the risk's own value at 1.
    await observe(balance.id, '0.51');
    await assert.rejects(quote(), (e: unknown) => {
      assert.ok(isBaseError(e), String(e));
      assert.equal(e.code, 'RISK_DECLINED');
      assert.equal(e.details?.reason, 'NEAR_THRESHOLD');
      assert.equal(e.details?.signal, 'balance');
      assert.match(e.message, /signal balance reads 0\.51/);
      return true;
    });
    // Its own rule near the threshold is refused too, and says it is the risk's own.
    await observe(balance.id, '1');
    await observe(own.id, '0.51');
    await assert.rejects(
      quote(),
      (e: unknown) => isBaseError(e) && e.details?.reason === 'NEAR_THRESHOLD' && e.details?.signal === undefined,
    );
    // Both back: sold again, at the calm price.
    await observe(own.id, '1');
    assert.equal((await quote()).premium, calm.premium);
  });
});
