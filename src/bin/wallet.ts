import { type Address, type Hex, createPublicClient, createWalletClient, formatUnits, getAddress, http, parseUnits, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { ANVIL_KEYS, LOCAL_CHAIN_ID } from '../chain/anvil.ts';
import { platformContracts } from '../chain/artifacts.ts';
import { chainOf } from '../chain/keys.ts';
import { erc20Abi, treasuryAbi } from '../chain/abis.ts';
import { policyTokenAbi } from '../chain/policy-token.ts';
import { tokenIdOf } from '../domain/policy-token.ts';

const USAGE = `npm run wallet -- <command>, with the settings \`npm run deploy\` wrote loaded
(set -a; . .data/chain/settlement.env; set +a):

  balance <address>             the address's token balance on chain
  fund <address> <amount>       local chain only: mint test tokens and gas to the address
  deposit <key> <amount> [for]  approve and deposit into the treasury (for another address if given)
  transfer <key> <amount>       a plain token transfer to the treasury (lands unattributed)
  give-policy <key> <policy id> <to>
                                the holder moves a policy's token (ERC-721) to another address

Amounts are in whole tokens (e.g. 100.5); keys are 0x-hex private keys (dev keys only: a
real wallet deposits from its own app).`;

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  const env = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set: run \`npm run deploy\` and load its settings first\n\n${USAGE}`);
    return value;
  };
  if (!command || command === 'help') {
    console.log(USAGE);
    return;
  }
  const chainId = Number(env('SETTLEMENT_CHAIN_ID'));
  const url = (
    env('CHAIN_RPC_URLS')
      .split(',')
      .find((p) => p.trim().startsWith(`${chainId}=`)) ?? ''
  )
    .split('=')
    .slice(1)
    .join('=')
    .split('|')[0];
  if (!url) throw new Error(`CHAIN_RPC_URLS names no URL for chain ${chainId}`);
  const chain = chainOf(chainId, url);
  const pub = createPublicClient({ chain, transport: http(url), pollingInterval: 250 });
  const token = getAddress(env('SETTLEMENT_TOKEN'));
  const treasury = getAddress(env('TREASURY_ADDRESS'));
  const decimals = await pub.readContract({ address: token, abi: erc20Abi, functionName: 'decimals' });
  const symbol = await pub.readContract({ address: token, abi: erc20Abi, functionName: 'symbol' }).catch(() => 'tokens');
  const tokens = (amount: bigint) => `${formatUnits(amount, decimals)} ${symbol}`;
  const amountOf = (text: string | undefined) => {
    if (!text || !/^\d+(\.\d+)?$/.test(text)) throw new Error(`amount must be a decimal number of tokens, e.g. 100.5\n\n${USAGE}`);
    return parseUnits(text, decimals);
  };
  const send = async (key: string | undefined, address: Address, abi: readonly unknown[], functionName: string, fnArgs: unknown[]) => {
    if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key)) throw new Error(`key must be a 0x-hex private key\n\n${USAGE}`);
    const wallet = createWalletClient({ chain, account: privateKeyToAccount(key as Hex), transport: http(url) });
    const hash = await wallet.writeContract({ address, abi, functionName, args: fnArgs } as never);
    const receipt = await pub.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') throw new Error(`${functionName} reverted in ${hash}`);
    return hash;
  };
  switch (command) {
    case 'balance': {
      const who = getAddress(args[0] ?? '');
      console.log(
        `${who} holds ${tokens(await pub.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [who] }))} on chain ${chainId}`,
      );
      return;
    }
    case 'fund': {
      if (chainId !== LOCAL_CHAIN_ID) throw new Error('fund works on a local anvil chain only');
      const who = getAddress(args[0] ?? '');
      await pub.request({ method: 'anvil_setBalance' as never, params: [who, toHex(10n ** 19n)] as never });
      const hash = await send(ANVIL_KEYS[0], token, platformContracts().TestStablecoin.abi, 'mint', [who, amountOf(args[1])]);
      console.log(`minted ${tokens(amountOf(args[1]))} and 10 ETH of gas to ${who}: transaction ${hash}`);
      return;
    }
    case 'deposit': {
      const amount = amountOf(args[1]);
      if (!args[0] || !/^0x[0-9a-fA-F]{64}$/.test(args[0])) throw new Error(`key must be a 0x-hex private key\n\n${USAGE}`);
      const from = privateKeyToAccount(args[0] as Hex).address;
      await send(args[0], token, erc20Abi, 'approve', [treasury, amount]);
      const hash = await send(args[0], treasury, treasuryAbi, 'deposit', [amount, getAddress(args[2] ?? from)]);
      console.log(`deposited ${tokens(amount)} into the treasury ${treasury} for ${getAddress(args[2] ?? from)}: transaction ${hash}`);
      return;
    }
    case 'transfer': {
      const hash = await send(args[0], token, erc20Abi, 'transfer', [treasury, amountOf(args[1])]);
      console.log(`transferred ${tokens(amountOf(args[1]))} to the treasury ${treasury} (unattributed): transaction ${hash}`);
      return;
    }
    case 'give-policy': {
      const tokenId = tokenIdOf(args[1] ?? '');
      if (tokenId === undefined) throw new Error(`policy id must be pol_ and 32 hex digits\n\n${USAGE}`);
      if (!args[0] || !/^0x[0-9a-fA-F]{64}$/.test(args[0])) throw new Error(`key must be a 0x-hex private key\n\n${USAGE}`);
      const policyToken = getAddress(env('POLICY_TOKEN_ADDRESS'));
      const from = privateKeyToAccount(args[0] as Hex).address;
      const to = getAddress(args[2] ?? '');
      const hash = await send(args[0], policyToken, policyTokenAbi, 'transferFrom', [from, to, tokenId]);
      console.log(`policy ${args[1]} (token ${tokenId} of ${policyToken}) moved from ${from} to ${to}: transaction ${hash}`);
      return;
    }
    default:
      throw new Error(`unknown command ${command}\n\n${USAGE}`);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message.split('\nRequest Arguments')[0] : String(error));
  process.exit(1);
});
