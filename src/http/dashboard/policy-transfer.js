import { money, short, word, addressWord } from './format.js';
import { state, gql } from './api.js';
import { el, act } from './dom.js';
import { walletOnSettlementChain, mined, followChain } from './wallet.js';

// A signed transfer's EIP-712 types are the API's (GET /dashboard.json, `transferTypes`: from
// src/domain/policy-transfer.ts). The domain comes from the API (policyTransferDomain), for the
// chain the wallet is on: it binds the signature to that chain and to this deployment.

/** The holder's wallet signs `message` as `primaryType` under the API's transfer domain for the chain the wallet is on. */
async function signTransfer(primaryType, message) {
  const chainId = Number.parseInt(await window.ethereum.request({ method: 'eth_chainId' }), 16);
  const { policyTransferDomain: domain } = await gql(
    'query($c: Int) { policyTransferDomain(chainId: $c) { name version chainId verifyingContract } }',
    { c: chainId },
  );
  const all = state.serverInfo.transferTypes;
  const types = { EIP712Domain: all.EIP712Domain, [primaryType]: all[primaryType] };
  const signature = await window.ethereum.request({
    method: 'eth_signTypedData_v4',
    params: [state.session.address, JSON.stringify({ domain, types, primaryType, message })],
  });
  return { signature, chainId: domain.chainId };
}

/** Who holds a policy and its token, in a cell: the buyer's own, or received; minted or not yet. */
export function holderText(p) {
  const who = p.holder === state.session?.address ? 'you' : short(p.holder);
  const got = p.buyer === p.holder ? '' : ` (received from ${short(p.buyer)})`;
  if (!p.token) return `${who}${got}`;
  return `${who}${got} · token ${short(p.token.tokenId)} ${p.token.minted ? 'minted' : 'minting…'}`;
}

/** A policy in force that the signed-in holder may hand on: an address box and a Transfer button. */
export function transferControls(p) {
  if (p.status !== 'ACTIVE' || p.holder !== state.session?.address) return el('span', { class: 'muted' }, '—');
  const to = el('input', {
    type: 'text',
    'data-transfer-to': p.id,
    placeholder: '0x… new holder',
    'aria-label': 'New holder address',
    size: '14',
  });
  const button = el('button', { type: 'button', 'data-transfer-policy': p.id }, 'Transfer');
  button.addEventListener('click', () => act('policy-transfer-result', () => transferPolicyFromWallet(p, to.value), button));
  return el('span', { class: 'transfer' }, to, button);
}

/**
 * Hands a policy to another address from the holder's browser wallet. Where policies are
 * ERC-721 tokens the wallet sends transferFrom on the settlement chain; on the ledger it signs
 * a PolicyTransfer (EIP-712) and the API records it. Either way, an incident that confirms
 * after the transfer pays the new holder.
 */
export async function transferPolicyFromWallet(p, typed) {
  const to = typed.trim();
  if (!/^0x[0-9a-fA-F]{40}$/.test(to)) throw new Error('the new holder must be an address: 0x and 40 hex digits');
  if (!window.ethereum || !state.session?.wallet)
    throw new Error('sign in with your browser wallet to transfer a policy: its holder signs');
  const from = state.session.address;
  if (p.token) {
    if (!p.token.minted) throw new Error('its token is still being minted: transfer it once the page shows it minted');
    const wallet = await walletOnSettlementChain();
    const data = `0x23b872dd${addressWord(from)}${addressWord(to)}${word(BigInt(p.token.tokenId))}`;
    const hash = await wallet.request({ method: 'eth_sendTransaction', params: [{ from, to: p.token.contract, data }] });
    await mined(wallet, hash);
    followChain();
    return `Policy token sent to ${to} (transaction ${short(hash)}): the new holder shows after ${state.settlement.confirmations} confirmations, and an incident that confirms from then on pays them.`;
  }
  const deadline = Math.floor(Date.now() / 1000) + 600;
  // Signed for the chain the wallet is on (a wallet refuses a domain naming another).
  const { signature, chainId } = await signTransfer('PolicyTransfer', { policyId: p.id, from, to, nonce: p.transferNonce, deadline });
  const { transferPolicy: moved } = await gql(
    'mutation($p: ID!, $t: String!, $d: Int!, $s: String!, $c: Int) { transferPolicy(policyId: $p, to: $t, deadline: $d, signature: $s, chainId: $c) { id holder } }',
    { p: p.id, t: to, d: deadline, s: signature, c: chainId },
  );
  return `Policy handed to ${moved.holder}: an incident that confirms from now on pays them.`;
}

/** A position's free shares the signed-in owner may hand on: an address box and a Hand on button (all its free shares). */
export function positionTransferControls(p) {
  if (BigInt(p.shares) === 0n || p.tranche === 'FIRST_LOSS') return el('span', { class: 'muted' }, '—');
  const key = `${p.pool.id}:${p.tranche}`;
  const to = el('input', {
    type: 'text',
    'data-position-to': key,
    placeholder: '0x… receiver',
    'aria-label': 'Receiver address',
    size: '14',
  });
  const button = el('button', { type: 'button', 'data-transfer-position': key }, 'Hand on');
  button.addEventListener('click', () => act('withdraw-result', () => transferPositionFromWallet(p, to.value), button));
  if (!p.token) return el('span', { class: 'transfer' }, to, button);
  // Where money is on chain with a position token: the free shares as ERC-1155 tokens, for any wallet or market.
  const issue = el(
    'button',
    { type: 'button', 'data-issue-tokens': key, title: `ERC-1155 ${p.token.contract} id ${p.token.tokenId}` },
    'As tokens',
  );
  issue.addEventListener('click', () => act('withdraw-result', () => issueTokens(p), issue));
  return el('span', { class: 'transfer' }, to, button, issue);
}

/** Issues a position's free shares as ERC-1155 tokens to the signed-in owner. */
async function issueTokens(p) {
  const { issuePositionTokens: issued } = await gql(
    'mutation($p: ID!, $tr: TrancheName, $sh: BigInt!) { issuePositionTokens(poolId: $p, tranche: $tr, shares: $sh) { shares value token { contract tokenId } } }',
    { p: p.pool.id, tr: p.tranche, sh: p.shares },
  );
  return `${money(issued.value)} USDC of ${p.pool.name} ${p.tranche} is being issued to your wallet as tokens (contract ${issued.token.contract}, id ${issued.token.tokenId}): once issued, move them with any wallet; whoever holds them redeems them on the contract to hold the shares here again.`;
}

/** Hands a position's free shares to another address: the owner's wallet signs PositionTransfer (EIP-712), the API records it. */
export async function transferPositionFromWallet(p, typed) {
  const to = typed.trim();
  if (!/^0x[0-9a-fA-F]{40}$/.test(to)) throw new Error('the receiver must be an address: 0x and 40 hex digits');
  if (!window.ethereum || !state.session?.wallet)
    throw new Error('sign in with your browser wallet to hand a position on: its owner signs');
  const deadline = Math.floor(Date.now() / 1000) + 600;
  const message = {
    poolId: p.pool.id,
    tranche: p.tranche,
    shares: p.shares,
    from: state.session.address,
    to,
    nonce: p.transferNonce,
    deadline,
  };
  const { signature, chainId } = await signTransfer('PositionTransfer', message);
  const { transferPosition: moved } = await gql(
    `mutation($p: ID!, $tr: TrancheName, $sh: BigInt!, $f: String!, $t: String!, $d: Int!, $s: String!, $c: Int) {
      transferPosition(poolId: $p, tranche: $tr, shares: $sh, from: $f, to: $t, deadline: $d, signature: $s, chainId: $c) { to value } }`,
    { p: p.pool.id, tr: p.tranche, sh: p.shares, f: state.session.address, t: to, d: deadline, s: signature, c: chainId },
  );
  return `Position handed to ${moved.to}: ${money(moved.value)} USDC of ${p.pool.name} ${p.tranche}, theirs from now on (earning, exposed, and withdrawn with the pool's cooldown).`;
}
