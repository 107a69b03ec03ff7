import { state, gql, subscribe } from './api.js';
import { el, act, showError } from './dom.js';
import { renderTreasury } from './market.js';
import { renderMine, signOut } from './account.js';
import { fundFromFaucet } from './wallet.js';
import { setUpTrade } from './trade.js';

export function startSession(s) {
  state.session = s;
  sessionStorage.setItem('session', JSON.stringify(s));
  showError(null);
  state.stopMine();
  // Payouts to this account arrive on their own authenticated subscription.
  state.stopMine = subscribe('subscription { policyPaid { policyId } }', {
    token: s.token,
    // After a reconnect, what changed while the stream was down is read afresh.
    onOpen: () => void renderMine().catch(console.error),
    onNext: () => {
      void renderMine().then(() => document.getElementById('mine').classList.add('flash'), console.error);
      void renderTreasury().catch(console.error);
    },
  });
  return renderMine();
}

/** Ends the session on the server too (every token of the address), then forgets it. */
export async function endSession() {
  if (state.session) await gql('mutation { signOut }').catch(() => undefined);
  return signOut();
}

/** EIP-4361 text, as the API's parser (viem) reads it. */
export function siweMessage({ domain, address, uri, chainId, nonce, issuedAt }) {
  return `${domain} wants you to sign in with your Ethereum account:\n${address}\n\nSign in to the parametric cover marketplace.\n\nURI: ${uri}\nVersion: 1\nChain ID: ${chainId}\nNonce: ${nonce}\nIssued At: ${issuedAt}`;
}

/** Sign-In with Ethereum through the browser's wallet (EIP-1193 `window.ethereum`). */
export async function walletSignIn() {
  const wallet = window.ethereum;
  const [address] = await wallet.request({ method: 'eth_requestAccounts' });
  const chainId = Number.parseInt(await wallet.request({ method: 'eth_chainId' }), 16);
  const { siweNonce } = await gql('mutation { siweNonce { nonce domain } }', {}, null);
  const message = siweMessage({
    domain: location.host,
    address,
    uri: location.origin,
    chainId,
    nonce: siweNonce.nonce,
    issuedAt: new Date().toISOString(),
  });
  const hex = `0x${Array.from(new TextEncoder().encode(message), (b) => b.toString(16).padStart(2, '0')).join('')}`;
  const signature = await wallet.request({ method: 'personal_sign', params: [hex, address] });
  const { signInWithEthereum: s } = await gql(
    'mutation($m: String!, $s: String!) { signInWithEthereum(message: $m, signature: $s) { token expiresAt account { address } } }',
    { m: message, s: signature },
    null,
  );
  await startSession({ token: s.token, expiresAt: s.expiresAt, address: s.account.address, wallet: true });
  // The demo funds a newcomer's wallet so that it can try the market at once.
  if (state.serverInfo.demo.faucet) await act('notice', fundFromFaucet);
}

/** Demo mode only (`npm run demo`): the server signs in one of its seeded people. */
export async function demoSignIn(address) {
  const res = await fetch('/demo/sessions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(body.errors?.[0]?.message ?? `HTTP ${res.status}`);
  await startSession(body);
}

export async function setUpSignIn() {
  const attempt = (run) => () => void run().catch(showError);
  if (window.ethereum) document.getElementById('wallet-sign-in').addEventListener('click', attempt(walletSignIn));
  setUpTrade();
  const res = state.serverInfo.demo.people ? await fetch('/demo/people').catch(() => null) : null;
  if (res?.ok) {
    const people = await res.json();
    document
      .getElementById('demo-person')
      .replaceChildren(...people.map((p) => el('option', { value: p.address }, `${p.name} ${p.address.slice(0, 8)}…`)));
    state.demoPeopleOffered = people.length > 0;
    document.getElementById('demo-go').addEventListener(
      'click',
      attempt(() => demoSignIn(document.getElementById('demo-person').value)),
    );
  }
  document.getElementById('sign-out').addEventListener('click', attempt(endSession));
  if (state.session) await startSession(state.session);
  else await renderMine();
}
