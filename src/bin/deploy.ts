import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Address, createPublicClient, createWalletClient, getAddress, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { deployDemoVault, deployPolicyToken, deployPositionToken, deployTestStablecoin, deployTreasury } from '../chain/deploy.ts';
import { erc20Abi, treasuryAbi } from '../chain/abis.ts';
import { ANVIL_KEYS, ANVIL_MINTER_KEY, ANVIL_OPERATOR_KEY, LOCAL_CHAIN_ID } from '../chain/anvil.ts';
import { chainOf, readPrivateKeyFile } from '../chain/keys.ts';

/**
 * `npm run deploy`: deploys the treasury (and, on a local chain, a test USDC) and writes the
 * settings chain settlement needs to `<DEPLOY_OUT>/settlement.env` (default .data/chain).
 *
 * - CHAIN_URL (default http://127.0.0.1:8545): the chain to deploy to.
 * - DEPLOYER_KEY_FILE: who pays for the deployment; on a local anvil chain (31337) its first
 *   dev account by default.
 * - SETTLEMENT_TOKEN: the token to settle in (required off a local chain: e.g. USDC's address).
 * - TREASURY_OWNER, OPERATOR_ADDRESS: the roles (default: the deployer; on a local chain the
 *   operator is anvil's last dev account, whose key is written beside the env file).
 * - MINTER_ADDRESS: who mints policy tokens and issues position tokens (the watcher's key; on a local chain anvil's dev
 *   account 8, whose key is written beside the env file); the token's owner is TREASURY_OWNER.
 * - POLICY_METADATA_URL: where the tokens' metadata is served, the API's /policy-tokens/
 *   (default http://127.0.0.1:<PORT or 4000>/policy-tokens/; the owner changes it with setBaseURI).
 * - POSITION_METADATA_URL: the position token's ERC-1155 uri, with `{id}` for the token id
 *   (default http://127.0.0.1:<PORT or 4000>/position-tokens/{id}; the owner changes it with setURI).
 */
async function main(): Promise<void> {
  const url = process.env.CHAIN_URL ?? 'http://127.0.0.1:8545';
  const out = resolve(process.env.DEPLOY_OUT ?? '.data/chain');
  const probe = createPublicClient({ transport: http(url, { retryCount: 2 }) });
  const chainId = await probe.getChainId().catch((error: unknown) => {
    throw new Error(`no chain answers at ${url} (start one with \`npm run chain\`): ${(error as Error).message.split('\n')[0]}`);
  });
  const local = chainId === LOCAL_CHAIN_ID;
  // Once: a treasury this step already deployed (and the chain still has) is kept.
  const envFile = join(out, 'settlement.env');
  if (existsSync(envFile)) {
    const previous = /^TREASURY_ADDRESS=(0x[0-9a-fA-F]{40})$/m.exec(readFileSync(envFile, 'utf8'))?.[1] as Address | undefined;
    if (previous && (await probe.getCode({ address: previous }))) {
      console.log(`treasury ${previous} is already deployed; settings in ${envFile}`);
      return;
    }
  }
  const deployerKey = process.env.DEPLOYER_KEY_FILE ? readPrivateKeyFile(process.env.DEPLOYER_KEY_FILE) : local ? ANVIL_KEYS[0] : undefined;
  if (!deployerKey) throw new Error(`chain ${chainId} is not a local anvil chain: set DEPLOYER_KEY_FILE`);
  const chain = chainOf(chainId, url);
  const account = privateKeyToAccount(deployerKey);
  const deployer = {
    public: createPublicClient({ chain, transport: http(url), pollingInterval: 250 }),
    wallet: createWalletClient({ chain, account, transport: http(url) }),
    account,
    chain,
  };
  const startBlock = await deployer.public.getBlockNumber();
  let token = process.env.SETTLEMENT_TOKEN as Address | undefined;
  if (!token) {
    if (!local) throw new Error(`chain ${chainId} is not a local anvil chain: set SETTLEMENT_TOKEN to the token to settle in`);
    token = await deployTestStablecoin(deployer);
  }
  const operatorKey = local && !process.env.OPERATOR_ADDRESS ? ANVIL_OPERATOR_KEY : undefined;
  const operator = operatorKey ? privateKeyToAccount(operatorKey).address : getAddress(process.env.OPERATOR_ADDRESS ?? account.address);
  const owner = getAddress(process.env.TREASURY_OWNER ?? account.address);
  // The operator's daily payout cap, in whole tokens (a leaked operator key pays out at most this a day).
  const capUnits = process.env.PAYOUT_CAP_PER_DAY;
  if (capUnits !== undefined && !/^\d+$/.test(capUnits)) throw new Error('PAYOUT_CAP_PER_DAY must be a whole number of tokens');
  const decimals = await deployer.public.readContract({ address: token, abi: erc20Abi, functionName: 'decimals' });
  const treasury = await deployTreasury(deployer, {
    token,
    owner,
    operator,
    ...(capUnits === undefined ? {} : { payoutCap: BigInt(capUnits) * 10n ** BigInt(decimals) }),
  });
  const minterKey = local && !process.env.MINTER_ADDRESS ? ANVIL_MINTER_KEY : undefined;
  const minter = minterKey ? privateKeyToAccount(minterKey).address : getAddress(process.env.MINTER_ADDRESS ?? account.address);
  const baseURI = process.env.POLICY_METADATA_URL ?? `http://127.0.0.1:${process.env.PORT ?? 4000}/policy-tokens/`;
  const policyToken = await deployPolicyToken(deployer, { owner, minter, baseURI });
  const positionURI = process.env.POSITION_METADATA_URL ?? `http://127.0.0.1:${process.env.PORT ?? 4000}/position-tokens/{id}`;
  const positionToken = await deployPositionToken(deployer, { owner, minter, uri: positionURI });
  // On a local chain, an ERC-4626 vault over the token to register as a yield source (the README's
  // walk-through): contracts/DemoVault.sol, deliberately weak, never deployed where USDC is real.
  const demoVault = local ? await deployDemoVault(deployer, token) : undefined;
  // A guardian may pause payouts, never move money: set when the deployer is the owner.
  const guardian = process.env.TREASURY_GUARDIAN;
  if (guardian) {
    if (owner !== account.address) throw new Error('TREASURY_GUARDIAN needs the deployer to be the owner (set it later with setGuardian)');
    const hash = await deployer.wallet.writeContract({
      address: treasury,
      abi: treasuryAbi,
      functionName: 'setGuardian',
      args: [getAddress(guardian)],
      account,
      chain,
    });
    await deployer.public.waitForTransactionReceipt({ hash });
  }

  mkdirSync(out, { recursive: true });
  const lines = [
    'SETTLEMENT=chain',
    `SETTLEMENT_CHAIN_ID=${chainId}`,
    `CHAIN_RPC_URLS=${chainId}=${url}`,
    `SETTLEMENT_TOKEN=${getAddress(token)}`,
    `TREASURY_ADDRESS=${treasury}`,
    `POLICY_TOKEN_ADDRESS=${policyToken}`,
    `POSITION_TOKEN_ADDRESS=${positionToken}`,
    `SETTLEMENT_START_BLOCK=${startBlock}`,
    `CONFIRMATIONS=${local ? 2 : 12}`,
  ];
  if (demoVault) lines.push(`DEMO_VAULT_ADDRESS=${demoVault}`);
  if (operatorKey) {
    const keyFile = join(out, 'operator.key');
    writeFileSync(keyFile, `${operatorKey}\n`, { mode: 0o600 });
    lines.push(`OPERATOR_KEY_FILE=${keyFile}`);
  }
  // On a local chain the deployer owns the treasury: its key lets the product allow the vaults
  // of the yield sources an admin registers (issue 68). Elsewhere the owner (a multisig) does.
  if (local && owner === account.address) {
    const keyFile = join(out, 'owner.key');
    writeFileSync(keyFile, `${deployerKey}\n`, { mode: 0o600 });
    lines.push(`TREASURY_OWNER_KEY_FILE=${keyFile}`);
  }
  if (minterKey) {
    const keyFile = join(out, 'minter.key');
    writeFileSync(keyFile, `${minterKey}\n`, { mode: 0o600 });
    lines.push(`MINTER_KEY_FILE=${keyFile}`);
  }
  writeFileSync(envFile, `${lines.join('\n')}\n`);
  console.log(`treasury ${treasury} for token ${getAddress(token)} on chain ${chainId}; owner ${owner}, operator ${operator}`);
  console.log(`policy token (ERC-721) ${policyToken}; minter ${minter}, metadata at ${baseURI}<token id>`);
  console.log(`position token (ERC-1155) ${positionToken}; minter ${minter}, metadata at ${positionURI}`);
  if (demoVault) console.log(`demo ERC-4626 vault ${demoVault} over the token (local chains only), to register as a yield source`);
  console.log(`settings written to ${envFile} (load them with: set -a; . ${envFile}; set +a, or SETTLEMENT_ENV_FILE=${envFile})`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
