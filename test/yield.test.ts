import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Address, Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { createRisk } from '../src/app/risks.ts';
import type { Viewer } from '../src/app/viewer.ts';
import { ANVIL_KEYS } from '../src/chain/anvil.ts';
import { deployDemoVault, deployTestStablecoin } from '../src/chain/deploy.ts';
import { createTreasuryGateway } from '../src/chain/treasury.ts';
import { INDEMNITY_RULE } from '../src/calibration/exploits.ts';
import { type LocalTreasury, chainHarness, localTreasury } from './chain-helpers.ts';
import { type Harness, createHarness, depegRiskInput, expectCode, newWallet } from './helpers.ts';

const OWNER_KEY = ANVIL_KEYS[0] as Hex;
const OPERATOR_KEY = ANVIL_KEYS[1] as Hex;
const SCORE = { audits: 3, daysLive: 900, valueSecuredUsd: '500000000', pastIncidents: 0, oracleQuality: 'HIGH', centralisation: 'MEDIUM' };
const REGISTER = `mutation($i: RegisterYieldSourceInput!) { registerYieldSource(input: $i) { id name vault asset allowed risk { id } } }`;

describe('yield sources: ERC-4626 vaults over the settlement asset, each with the risk that watches it (issue 68)', () => {
  let chain: LocalTreasury;
  let h: Harness;
  let admin: Viewer;
  let adminToken: string;
  let deployer: Parameters<typeof deployDemoVault>[0];

  before(async () => {
    chain = await localTreasury(privateKeyToAccount(OPERATOR_KEY).address);
    h = await chainHarness(chain, { confirmations: 1, batchSize: 10 });
    // This deployment holds the treasury owner's key (TREASURY_OWNER_KEY_FILE): it allows the vaults it registers.
    h.deps.treasury = createTreasuryGateway({
      chainId: foundry.id,
      rpcUrls: chain.url,
      token: chain.token,
      treasury: chain.treasury,
      operator: privateKeyToAccount(OPERATOR_KEY),
      owner: privateKeyToAccount(OWNER_KEY),
      pollingIntervalMs: 50,
    });
    admin = { address: h.admin.address, roles: ['admin'] };
    adminToken = await h.signIn(h.admin);
    deployer = { public: chain.pub as never, wallet: chain.walletOf(OWNER_KEY), account: privateKeyToAccount(OWNER_KEY), chain: foundry };
  });
  after(async () => {
    await h?.close();
    await chain?.anvil.stop();
  });

  const yieldRisk = (name: string) =>
    createRisk(h.deps, admin, {
      ...depegRiskInput(name, `VAULT-${name.replaceAll(' ', '_')}`),
      kind: 'SMART_CONTRACT_FAILURE',
      rule: { ...INDEMNITY_RULE },
      score: SCORE,
      protocolCategory: 'YIELD',
    } as never);

  test('an admin registers a vault over the settlement token with its YIELD risk; the treasury allows it; anything else is refused and writes nothing', async () => {
    const vault = await deployDemoVault(deployer, chain.token);
    const risk = await yieldRisk('Demo vault');
    const input = { name: 'Demo vault', vault: vault.toLowerCase(), riskId: risk.id };

    // Not an admin; not a YIELD contract risk; no vault at the address; a contract that is no vault; a vault over another token.
    const someone = await h.signIn(newWallet());
    expectCode(await h.gql(REGISTER, { i: input }, someone), 'FORBIDDEN');
    const depeg = (
      await h.ok(`mutation($i: CreateRiskInput!) { createRisk(input: $i) { id } }`, { i: depegRiskInput('A coin', 'COIN') }, adminToken)
    ).createRisk;
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ ...input, riskId: depeg.id }, 'NOT_A_YIELD_RISK'],
      [{ ...input, vault: newWallet().address }, 'NO_CODE'],
      [{ ...input, vault: chain.token }, 'NOT_ERC4626'],
      [{ ...input, vault: await deployDemoVault(deployer, await deployTestStablecoin(deployer, { symbol: 'OTHER' })) }, 'NOT_THIS_ASSET'],
      [{ ...input, name: '' }, 'BAD_USER_INPUT'],
    ];
    for (const [i, reason] of refusals) {
      const body = await h.gql(REGISTER, { i }, adminToken);
      expectCode(body, 'BAD_USER_INPUT');
      if (reason !== 'BAD_USER_INPUT') assert.equal(body.errors?.[0]?.extensions?.details?.reason, reason, JSON.stringify(body.errors));
    }
    assert.deepEqual((await h.ok('{ yieldSources { id } }')).yieldSources, []);

    const source = (await h.ok(REGISTER, { i: input }, adminToken)).registerYieldSource;
    assert.deepEqual(
      { ...source, id: undefined },
      { id: undefined, name: 'Demo vault', vault, asset: 'USDC', allowed: true, risk: { id: risk.id } },
    );
    assert.equal(await h.deps.treasury?.vaultAllowed(vault as Address), true);
    expectCode(await h.gql(REGISTER, { i: input }, adminToken), 'CONFLICT');
    assert.deepEqual((await h.ok('{ yieldSources { id vault allowed } }')).yieldSources, [{ id: source.id, vault, allowed: true }]);
  });

  test('with money on the ledger alone there is no yield source', async () => {
    const ledger = await createHarness();
    try {
      const token = await ledger.signIn(ledger.admin);
      const body = await ledger.gql(REGISTER, { i: { name: 'x', vault: newWallet().address, riskId: 'risk_x' } }, token);
      expectCode(body, 'SETTLEMENT_UNAVAILABLE');
      assert.deepEqual((await ledger.ok('{ yieldSources { id } }')).yieldSources, []);
    } finally {
      await ledger.close();
    }
  });
});
