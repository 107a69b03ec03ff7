import { existsSync } from 'node:fs';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type Hex, createPublicClient, createWalletClient, defineChain, hexToString, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * Headless Chromium for the browser tests: the system's (Debian's /usr/bin/chromium) where
 * installed, else the binary shipped inside the npm package @sparticuz/chromium, so a
 * machine with only Node and npm runs them too. CHROMIUM_PATH names another.
 */
export async function launchBrowser(): Promise<Browser> {
  const system = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (existsSync(system)) return chromium.launch({ executablePath: system, args: FLAGS });
  const { default: packaged } = await import('@sparticuz/chromium');
  // Its own flag set is tuned for serverless (one process, web security off): ours suits tests.
  return chromium.launch({ executablePath: await packaged.executablePath(), args: FLAGS, headless: true });
}

/** What the test wallet did, for the test to check. */
export interface WalletLog {
  signed: string[];
  sent: Hex[];
}

/**
 * A browser wallet for the page: `window.ethereum` (EIP-1193) answered on the test's side by
 * a viem local account, as a wallet extension answers on its own side. It signs messages,
 * sends transactions on `rpcUrl`'s chain (when given) and forwards reads to that node.
 */
export async function injectWallet(page: Page, key: Hex, options: { chainId: number; rpcUrl?: string | undefined }): Promise<WalletLog> {
  const account = privateKeyToAccount(key);
  const log: WalletLog = { signed: [], sent: [] };
  const transport = options.rpcUrl ? http(options.rpcUrl, { retryCount: 0 }) : undefined;
  const chain = defineChain({
    id: options.chainId,
    name: `chain ${options.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl ?? 'http://127.0.0.1:1'] } },
  });
  const wallet = transport ? createWalletClient({ account, chain, transport }) : undefined;
  const node = transport ? createPublicClient({ chain, transport }) : undefined;
  await page.exposeFunction('testWalletRequest', async (method: string, params: unknown[] = []) => {
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts':
        return [account.address.toLowerCase()];
      case 'eth_chainId':
        return `0x${options.chainId.toString(16)}`;
      case 'personal_sign': {
        const raw = params[0] as Hex;
        log.signed.push(hexToString(raw));
        return account.signMessage({ message: { raw } });
      }
      case 'eth_signTypedData_v4': {
        const typed = JSON.parse(params[1] as string) as {
          domain: object;
          types: Record<string, unknown>;
          primaryType: string;
          message: object;
        };
        const { EIP712Domain: _, ...types } = typed.types;
        log.signed.push(params[1] as string);
        return account.signTypedData({ domain: typed.domain, types, primaryType: typed.primaryType, message: typed.message } as never);
      }
      case 'eth_sendTransaction': {
        if (!wallet) throw new Error('this test wallet has no chain');
        const tx = params[0] as { to: Hex; data?: Hex; value?: Hex };
        const hash = await wallet.sendTransaction({ to: tx.to, data: tx.data, value: tx.value ? BigInt(tx.value) : undefined });
        log.sent.push(hash);
        return hash;
      }
      default:
        if (!node) throw new Error(`unsupported ${method}`);
        return node.request({ method: method as never, params: params as never });
    }
  });
  // A string, not a function: the test's transpiler would add helpers the page lacks.
  await page.addInitScript(`window.ethereum = {
    isTestWallet: true,
    async request({ method, params }) { return window.testWalletRequest(method, params ?? []); },
    on() {},
    removeListener() {},
  };`);
  return log;
}
