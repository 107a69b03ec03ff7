import { money, short, signed, percent, when, addressWord } from './format.js';
import { state, gql, nodes } from './api.js';
import { el, section, act } from './dom.js';
import { fillTranches, fillWithdrawOptions } from './market.js';
import { sharePriceCharts } from './chart.js';
import { holderText, positionTransferControls, transferControls } from './policy-transfer.js';
import { hookRows, whatIfText } from './provider.js';

/** The signed-in person's wallet, policies (with payouts) and underwriting positions. */
export async function renderMine() {
  const mine = document.getElementById('mine');
  document.getElementById('who').textContent = state.session
    ? `signed in as ${state.session.name ? `${state.session.name} ` : ''}${state.session.address}`
    : '';
  document.getElementById('sign-out').hidden = !state.session;
  // Visitors quote too (an estimate); capital and money on chain need a session.
  document.getElementById('trade').hidden = false;
  for (const id of ['provide', 'withdraw', 'hooks', 'statement-go']) document.getElementById(id).hidden = !state.session;
  document.getElementById('faucet').hidden = !(state.session && state.serverInfo.demo.faucet);
  document.getElementById('chain-money').hidden = !(state.session && state.settlement.mode === 'CHAIN');
  // The ways in, only while signed out.
  document.getElementById('wallet-sign-in').hidden = Boolean(state.session) || !window.ethereum;
  document.getElementById('demo-sign-in').hidden = Boolean(state.session) || !state.demoPeopleOffered;
  document.getElementById('visitor').hidden = Boolean(state.session);
  // Whether the first-loss tranche is open depends on who is signed in.
  fillTranches();
  if (!state.session) {
    state.mineData = null;
    mine.replaceChildren(el('p', { class: 'muted' }, 'Sign in to see your policies and positions.'));
    visitorHelp();
    return;
  }
  const onChain = state.settlement.mode === 'CHAIN';
  let data;
  try {
    data = await gql(`{
      accountBalance { amount }
      policies(first: 50) { nodes { id status amount exposure premium startAt coveredFrom endAt buyer holder transferNonce renewedBy { id } token { contract tokenId minted } risk { id name } pool { name } payout { paid iou transfer { state txHash } } } }
      positions(first: 100) { nodes { tranche shares lockedShares value transferNonce token { contract tokenId } pool { id name } whatIf { loss scenario { name } }
        earnings { deposited withdrawn premiumEarned lossesTotal netEarned realisedYield annualisedYield losses { incidentId amount }
          sharePrice { at sharePrice } } } }
      withdrawals(first: 20) { nodes { id tranche shares valueAtRequest availableAt expiresAt status completable paid givenBack { value } pool { name } } }
      webhooks { id url events failingSince disabledAt disabledReason deliveries(first: 5) { event status attempts lastStatus lastError nextAttemptAt } }
      ${onChain ? 'chainDeposits(first: 20) { pending { txHash amount } credited { nodes { txHash amount status } } } transfers(first: 20) { nodes { kind amount state txHash } }' : ''}
    }`).then(nodes);
  } catch (e) {
    if (e.code === 'UNAUTHENTICATED') return signOut();
    throw e;
  }
  state.mineData = data;
  fillWithdrawOptions();
  if (onChain) void showChainWalletBalance().catch(() => undefined);
  const td = (text, attrs = {}) => el('td', attrs, text);
  mine.replaceChildren(
    el(
      'div',
      { id: 'wallet', 'data-balance': data.accountBalance.amount },
      `Balance on the platform: ${money(data.accountBalance.amount)} USDC (buys cover and capital; ${onChain ? 'move it to your wallet on chain below' : 'credited by the platform'})`,
    ),
    ...view(
      'buy',
      section(
        'my-policies',
        'Policies',
        'No policies.',
        [
          'Risk',
          'Pool',
          'Cover',
          'Pays at most',
          'Premium',
          'Covered',
          'Status',
          'Paid',
          ...(onChain ? ['On chain'] : []),
          'Holder',
          'Hand on',
          'Keep it',
        ],
        data.policies,
        (p) =>
          el(
            'tr',
            { 'data-policy': p.id, 'data-status': p.status },
            td(p.risk.name),
            td(p.pool.name),
            td(money(p.amount)),
            // The most an incident pays it (amount x the risk's maximum payout ratio), in money.
            td(`${money(p.exposure)} USDC`, { 'data-pays-at-most': p.exposure }),
            td(money(p.premium)),
            td(`${when(p.coveredFrom)} to ${when(p.endAt)}`),
            // A renewal bought ahead is active but covers from its policy's end: said so.
            td(p.status === 'ACTIVE' && Date.parse(p.coveredFrom) > Date.now() ? 'ACTIVE, starts later' : p.status, { class: p.status }),
            td(p.payout ? `${money(p.payout.paid)} USDC${p.payout.iou !== '0' ? ` (IOU ${money(p.payout.iou)})` : ''}` : '—'),
            ...(onChain
              ? [
                  td(
                    p.payout?.transfer ? `${p.payout.transfer.state} ${short(p.payout.transfer.txHash)}` : '—',
                    txAttrs(p.payout?.transfer),
                  ),
                ]
              : []),
            td(holderText(p), { 'data-holder': p.holder, ...(p.token ? { 'data-minted': String(p.token.minted) } : {}) }),
            el('td', {}, transferControls(p)),
            el('td', {}, renewControls(p)),
          ),
      ),
    ),
    ...(onChain ? chainActivity(data) : []),
    ...view('provide', [
      ...section(
        'my-positions',
        'Positions',
        'No underwriting positions.',
        [
          'Pool',
          'Tranche',
          'Value now',
          'Deposited',
          'Withdrawn',
          el(
            'span',
            {
              title:
                "A policy's premium (after the backstop's skim and the curator's fee) is earned a little every second over its term; what a policy paid by an incident had still to earn is earned at once when it is paid.",
            },
            'Premium earned',
          ),
          'Losses',
          'Net',
          'Yield',
          'In cooldown (USDC)',
          'What if',
          'Hand on',
        ],
        data.positions,
        (p) =>
          el(
            'tr',
            { 'data-position': `${p.pool.name}:${p.tranche}` },
            td(p.pool.name),
            td(p.tranche),
            td(`${money(p.value)} USDC`),
            td(money(p.earnings.deposited)),
            td(money(p.earnings.withdrawn)),
            td(money(p.earnings.premiumEarned), { 'data-earned': p.earnings.premiumEarned }),
            td(
              p.earnings.losses.length === 0
                ? '—'
                : p.earnings.losses.map((l) => `${money(l.amount)} USDC (${incidentName(l.incidentId)})`).join(', '),
              { title: 'per incident' },
            ),
            td(signed(p.earnings.netEarned), {
              class: Math.sign(Number(p.earnings.netEarned)) < 0 ? 'RED' : Number(p.earnings.netEarned) > 0 ? 'GREEN' : '',
            }),
            td(
              `${percent(p.earnings.realisedYield)} booked · ${p.earnings.annualisedYield === null ? 'under an hour' : `${percent(p.earnings.annualisedYield)} a year`}`,
            ),
            td(money(lockedValue(p))),
            el('td', { 'data-what-if': '' }, el('details', {}, el('summary', {}, 'What it could lose'), el('p', {}, whatIfText(p)))),
            el('td', {}, positionTransferControls(p)),
          ),
      ),
      ...sharePriceCharts(data.positions),
      ...section(
        'my-withdrawals',
        'Withdrawal requests',
        'No withdrawal requests.',
        ['Pool', 'Tranche', 'Value at request (USDC)', 'Available from', 'Status'],
        data.withdrawals,
        (w) =>
          el(
            'tr',
            { 'data-withdrawal': w.id, 'data-status': w.status },
            td(w.pool.name),
            td(w.tranche),
            td(money(w.valueAtRequest)),
            td(when(w.availableAt)),
            w.status === 'COMPLETED'
              ? td(`paid ${money(w.paid)} USDC`)
              : w.status === 'CANCELLED'
                ? td(
                    w.givenBack
                      ? `cancelled: the shares are free again, worth their value at the request; the ${money(w.givenBack.value)} USDC they earned while waiting went back to the pool's other holders`
                      : 'cancelled: the shares are free again',
                  )
                : el('td', {}, ...withdrawalControls(w)),
          ),
      ),
    ]),
    ...view('integrate', [el('h3', {}, `Webhook endpoints (${data.webhooks.length})`), ...hookRows(data.webhooks)]),
  );
}

/** Parts of the account that belong to one role's view. */
function view(role, parts) {
  return [el('div', { 'data-views': role }, ...parts)];
}

/** What the shares in cooldown are worth now (value covers free and locked shares, pro rata). */
function lockedValue(p) {
  const all = BigInt(p.shares) + BigInt(p.lockedShares);
  return all === 0n ? 0n : (BigInt(p.value) * BigInt(p.lockedShares)) / all;
}

/** A pending withdrawal: Complete once the cooldown is over (never offered before), Cancel until then. */
function withdrawalControls(w) {
  const cancel = el('button', { type: 'button', 'data-cancel': w.id }, 'Cancel');
  cancel.addEventListener('click', () =>
    act(
      'withdraw-result',
      async () => {
        const { cancelWithdrawal: c } = await gql('mutation($id: ID!) { cancelWithdrawal(requestId: $id) { givenBack { value } } }', {
          id: w.id,
        });
        // What the shares earned while they waited goes back to the tranche: a pending exit is not a free option.
        const back = c.givenBack
          ? ` The ${money(c.givenBack.value)} USDC they earned while waiting went back to the pool's other holders.`
          : '';
        return `Withdrawal cancelled: the shares are free again, worth their value at the request, earning and exposed as before.${back}`;
      },
      cancel,
    ),
  );
  return w.completable
    ? [completeButton(w), ' ', ...(w.expiresAt ? [el('span', { class: 'muted' }, `by ${when(w.expiresAt)} `)] : []), cancel]
    : [
        el(
          'span',
          { class: 'muted' },
          // The window: a request not completed within one more cooldown lapses and its shares are free again.
          `in cooldown until ${when(w.availableAt)}${w.expiresAt ? `, then complete it by ${when(w.expiresAt)} or it lapses` : ''}; cancelling gives back what the shares earn meanwhile `,
        ),
        cancel,
      ];
}

/** An incident named as the page shows it: its risk and day (the market's incidents), not its id. */
function incidentName(id) {
  if (!id) return 'not tied to an incident';
  const i = state.market.incidents?.find((x) => x.id === id);
  return i ? `${i.risk.name}, ${when(i.timeline[0]?.at ?? i.createdAt)}` : 'an earlier incident';
}

/** An active policy's renewal: the price first (an estimate for the same term), then one click buys it from the policy's end. */
function renewControls(p) {
  if (p.status !== 'ACTIVE' || p.holder.toLowerCase() !== state.session.address.toLowerCase()) return '—';
  if (p.renewedBy) return 'renewed';
  // The same term again: the days it covers (a renewal's from its policy's end, not from when it was bought).
  const days = Math.min(365, Math.max(7, Math.round((Date.parse(p.endAt) - Date.parse(p.coveredFrom)) / 86_400_000)));
  const button = el('button', { type: 'button', 'data-renew': p.id }, `Renew ${days} days`);
  button.addEventListener('click', () =>
    act(
      'buy-result',
      async () => {
        const { quoteEstimate: q } = await gql(
          'query($r: ID!, $a: BigInt!, $d: Int!) { quoteEstimate(riskId: $r, amount: $a, durationDays: $d) { total } }',
          { r: p.risk.id, a: p.amount, d: days },
        );
        if (
          !window.confirm(
            `Renew ${money(p.amount)} USDC of ${p.risk.name} cover for ${days} more days from its end, for ${money(q.total)} USDC?`,
          )
        )
          return 'Renewal not bought.';
        const { renewPolicy: r } = await gql(
          'mutation($p: ID!, $d: Int!, $m: BigInt) { renewPolicy(policyId: $p, durationDays: $d, maxTotal: $m) { id endAt premium fee } }',
          { p: p.id, d: days, m: q.total },
        );
        return `Renewed: policy ${r.id} covers from the old end until ${when(r.endAt)}, for ${money(BigInt(r.premium) + BigInt(r.fee))} USDC.`;
      },
      button,
    ),
  );
  return button;
}

/** A pending withdrawal's button: completes it, or says why not yet. */
export function completeButton(w) {
  const button = el('button', { type: 'button', 'data-complete': w.id }, 'Complete');
  button.addEventListener('click', () =>
    act(
      'withdraw-result',
      async () => {
        const { completeWithdrawal: done } = await gql(
          'mutation($id: ID!) { completeWithdrawal(requestId: $id) { paid pool { name } tranche } }',
          {
            id: w.id,
          },
        );
        return `Withdrawal completed: ${money(done.paid)} USDC from ${done.pool.name} ${done.tranche} is in your wallet.`;
      },
      button,
    ),
  );
  return button;
}

/** A cell's attributes for a transaction: its full hash in data-tx and the tooltip. */
export function txAttrs(t) {
  return t?.txHash ? { 'data-tx': t.txHash, title: t.txHash, class: 'tx' } : {};
}

/** The token balance of the signed-in address's wallet on chain, read through the browser's wallet (none without one). */
export async function showChainWalletBalance() {
  const box = document.getElementById('chain-balance');
  if (!window.ethereum || !state.session || !state.settlement.token) {
    box.textContent = '';
    return;
  }
  const raw = await window.ethereum.request({
    method: 'eth_call',
    params: [{ to: state.settlement.token, data: `0x70a08231${addressWord(state.session.address)}` }, 'latest'],
  });
  box.textContent = `In your wallet on chain: ${money(BigInt(raw))} USDC`;
  box.dataset.balance = BigInt(raw).toString();
}

/** Deposits into the treasury and transfers out of it for the signed-in address, with their transactions. */
export function chainActivity(data) {
  const deposits = [
    ...data.chainDeposits.pending.map((d) => ({ kind: 'DEPOSIT', ...d, state: 'PENDING' })),
    ...data.chainDeposits.credited.nodes.map((d) => ({ kind: 'DEPOSIT', ...d, state: d.status })),
  ];
  const row = ({ kind, amount, state, txHash }) =>
    el(
      'tr',
      { 'data-transfer': kind },
      el('td', {}, kind),
      el('td', {}, `${money(amount)} USDC`),
      el('td', {}, state),
      el('td', txAttrs({ txHash }), short(txHash)),
    );
  return section(
    'my-chain',
    'On chain',
    'No deposits or transfers yet.',
    ['What', 'Amount', 'State', 'Transaction'],
    [...deposits, ...data.transfers],
    row,
  );
}

/** Forgets the session in this tab and shows the visitor's view. */
export function signOut() {
  state.session = null;
  sessionStorage.removeItem('session');
  state.stopMine();
  return renderMine();
}

/** What a visitor can do, and how to do more, in words that fit what this browser has. */
export function visitorHelp() {
  const ways = [];
  if (window.ethereum) ways.push('sign in with your wallet (it signs a Sign-In with Ethereum message: no transaction, no gas)');
  else
    ways.push(
      'sign in with an Ethereum wallet in this browser (a wallet extension such as MetaMask; it signs a Sign-In with Ethereum message, no transaction, no gas)',
    );
  if (state.demoPeopleOffered) ways.push('use one of the demo people');
  else ways.push('or try it with demo people: run "npm run demo" instead of "npm start"');
  document
    .getElementById('visitor')
    .replaceChildren(
      el(
        'p',
        {},
        'Without signing in you can read the market below (risks, pools, incidents, live) and get a price: choose a risk, an amount and a term, and press "Get a quote".',
      ),
      el('p', {}, `To buy cover or provide capital, ${ways.join('; ')}.`),
    );
}
