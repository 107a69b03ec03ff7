import { money, short, word, addressWord } from './format.js';
import { state, gql } from './api.js';
import { amountOf } from './dom.js';

/** The browser wallet on the settlement chain, or a plain-words reason why not. */
export async function walletOnSettlementChain() {
  const wallet = window.ethereum;
  if (!wallet || !state.session?.wallet) throw new Error('sign in with your browser wallet to move money from or to it');
  const want = state.settlement.chainId;
  if (Number.parseInt(await wallet.request({ method: 'eth_chainId' }), 16) !== want) {
    try {
      await wallet.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: `0x${want.toString(16)}` }] });
    } catch {
      throw new Error(`switch your wallet to chain ${want}, where the treasury is`);
    }
  }
  return wallet;
}

/** Waits for a transaction to be mined, through the wallet's own node. */
export async function mined(wallet, hash) {
  for (let i = 0; i < 120; i++) {
    const receipt = await wallet.request({ method: 'eth_getTransactionReceipt', params: [hash] });
    if (receipt) {
      if (receipt.status !== '0x1') throw new Error(`transaction ${short(hash)} failed on chain`);
      return receipt;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`transaction ${short(hash)} is not mined yet: it shows under "On chain" once it is`);
}

/** From the wallet into the treasury: approve, then deposit(amount, me); credited after its confirmations. */
export async function depositFromWallet() {
  const amount = amountOf('chain-amount', 'The amount');
  const wallet = await walletOnSettlementChain();
  const from = state.session.address;
  const send = (to, data) => wallet.request({ method: 'eth_sendTransaction', params: [{ from, to, data }] });
  await mined(wallet, await send(state.settlement.token, `0x095ea7b3${addressWord(state.settlement.treasury)}${word(amount)}`));
  const hash = await send(state.settlement.treasury, `0x6e553f65${word(amount)}${addressWord(from)}`);
  await mined(wallet, hash);
  followChain();
  return `Deposit of ${money(amount)} USDC sent from your wallet (transaction ${short(hash)}): it is credited after ${state.settlement.confirmations} confirmations.`;
}

/** Money moving on chain changes state without an event for this page: refresh for half a minute. */
export function followChain() {
  let checks = 0;
  const timer = setInterval(() => {
    void state.refreshMine().catch(console.error);
    if (++checks >= 20) clearInterval(timer);
  }, 1_500);
}

export async function withdrawToWallet() {
  const amount = amountOf('chain-amount', 'The amount');
  const { withdraw: t } = await gql(
    'mutation($a: BigInt!, $k: String) { withdraw(amount: $a, idempotencyKey: $k) { id amount recipient state } }',
    {
      a: amount.toString(),
      k: crypto.randomUUID(),
    },
  );
  followChain();
  return `Withdrawal of ${money(t.amount)} USDC to ${t.recipient} is ${t.state}: it goes out in the next batch from the treasury.`;
}

/** Demo only: the faucet's money for the signed-in wallet, once. */
export async function fundFromFaucet() {
  const res = await fetch('/demo/faucet', { method: 'POST', headers: { authorization: `Bearer ${state.session.token}` } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.errors?.[0]?.message ?? `HTTP ${res.status}`);
  if (body.alreadyFunded) return 'The demo faucet already funded this wallet.';
  return `Demo: ${money(body.credited)} USDC credited to your balance on the platform${body.inWallet !== '0' ? `, and ${money(body.inWallet)} test USDC put in your wallet on chain` : ''}, to try the market with.`;
}
