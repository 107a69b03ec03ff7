import { money, when, clock, pct } from './format.js';
import { state, gql } from './api.js';
import { el, act, amountOf } from './dom.js';
import { fillTranches, freeValue } from './market.js';
import { depositFromWallet, withdrawToWallet, fundFromFaucet } from './wallet.js';

/** The quote on the page is for the inputs that made it: any change of them, or a refused quote, takes it (and its buy button) away. */
export function clearQuote() {
  state.quoted = null;
  const box = document.getElementById('quote');
  box.replaceChildren();
  box.hidden = true;
}

/** What the page shows of a quote: its terms, parts and price in words. */
const QUOTE_FIELDS =
  'amount durationDays exposure premium fee total risk { name terms } pool { name } summary lines { label value } allocations { pool { name } risk { name } amount premium }';

export async function getQuote() {
  clearQuote();
  const riskId = document.getElementById('buy-risk').value;
  const amount = amountOf('buy-amount', 'Cover');
  const days = termOf();
  // A visitor gets the same price as an estimate (nothing stored); a signed-in buyer a firm quote,
  // with the commission of the partner whose link brought them, if any.
  const vars = { r: riskId, a: amount.toString(), d: days };
  const partner = linkedDistributor();
  const [q, offers] = await Promise.all([
    state.session
      ? gql(
          `mutation($r: ID!, $a: BigInt!, $d: Int!, $p: DistributorInput) { requestQuote(riskId: $r, amount: $a, durationDays: $d, distributor: $p) { id expiresAt commission distributor ${QUOTE_FIELDS} } }`,
          { ...vars, p: partner },
        ).then((r) => r.requestQuote)
      : gql(
          `query($r: ID!, $a: BigInt!, $d: Int!) { quoteEstimate(riskId: $r, amount: $a, durationDays: $d) { ${QUOTE_FIELDS} } }`,
          vars,
        ).then((r) => r.quoteEstimate),
    // Every pool's offer for the same cover, cheapest first: the quote fills the cover from the cheapest.
    gql(
      `query($r: ID!, $a: BigInt!, $d: Int) { risk(id: $r) { offers(amount: $a, durationDays: $d) { pool { name } annualRate amount premium capacity } } }`,
      vars,
    ).then((r) => r.risk?.offers ?? []),
  ]);
  showQuote(q, offersTable(offers), partner);
  return state.session ? 'Quoted: buy it below at exactly this price.' : 'Estimated: sign in to buy.';
}

function termOf() {
  const days = Number(document.getElementById('buy-days').value);
  const { minDays = 1, maxDays = 365 } = state.serverInfo.cover ?? {};
  if (!Number.isInteger(days) || days < minDays || days > maxDays)
    throw new Error(`Days must be a whole number from ${minDays} to ${maxDays}`);
  return days;
}

/** The quote (or a visitor's estimate) on the page, with its buy button. */
function showQuote(q, offers, partner) {
  state.quoted = state.session ? q : null;
  const box = document.getElementById('quote');
  const buy = state.session
    ? el('button', { type: 'button', id: 'buy-go' }, `Buy cover for ${money(q.total)} USDC`)
    : el('button', { type: 'button', id: 'buy-go', disabled: '' }, 'Sign in to buy at this price');
  if (state.session) buy.addEventListener('click', () => act('buy-result', buyQuoted, buy));
  const risks = new Set(q.allocations.map((a) => a.risk.name));
  const pools = new Set(q.allocations.map((a) => a.pool.name));
  const what = risks.size > 1 ? `a bundle of ${[...risks].join(', ')} cover` : `${q.risk.name} cover`;
  const from = pools.size > 1 ? `${pools.size} pools` : q.pool.name;
  box.replaceChildren(
    el(
      'p',
      { 'data-quote': q.id ?? '' },
      `${money(q.amount)} USDC of ${what} for ${q.durationDays} days from ${from}: premium ${money(q.premium)} + fee ${money(q.fee)}${q.distributor ? ` + commission ${money(q.commission)} to ${q.distributor}` : ''} = ${money(q.total)} USDC. ${state.session ? `The price is held until ${clock(q.expiresAt)}.` : q.id ? 'Sign in and quote again to buy at this price.' : 'An estimate: sign in for a firm quote at this price.'}`,
    ),
    ...(partner && !state.session
      ? [
          el(
            'p',
            { 'data-quote-partner': partner.address },
            `Sold through ${partner.address}: its commission, ${pct(partner.commissionBps / 10_000)} of the premium, is added to the firm quote.`,
          ),
        ]
      : []),
    // What the cover pays, in money, next to its price: the most (amount x the risk's maximum payout ratio) and how it is worked out.
    el(
      'p',
      { 'data-quote-pays': '' },
      risks.size > 1
        ? `This cover pays at most ${money(q.exposure)} USDC in all, each item when its own risk triggers, automatically to the policy's holder.`
        : `This cover pays at most ${money(q.exposure)} USDC (${pct(Number(q.exposure) / Number(q.amount))} of ${money(q.amount)} USDC), automatically to the policy's holder. ${q.risk.terms}`,
    ),
    // The price in plain words first: what it costs a year and what that is made of.
    el('p', { 'data-quote-summary': '' }, q.summary),
    allocationsTable(q.allocations),
    // How the price was worked out, line by line (the expected loss from the risk's history and its loads).
    el(
      'details',
      { class: 'quote-lines' },
      el('summary', {}, 'How this price was worked out'),
      el('dl', {}, ...q.lines.flatMap((l) => [el('dt', {}, l.label), el('dd', {}, l.value)])),
    ),
    ...(offers ? [offers] : []),
    buy,
  );
  box.hidden = false;
}

/** A cover written in parts (routed across pools, or a bundle's items): who writes what, at what premium. */
function allocationsTable(parts) {
  if (parts.length < 2) return el('span', { 'data-allocations': parts.length });
  return el(
    'div',
    { class: 'table-scroll', 'data-allocations': parts.length },
    el(
      'table',
      {},
      el('caption', {}, `Written in ${parts.length} parts, the cheapest pool first: each pays its part through its own capital`),
      el('thead', {}, el('tr', {}, ...['Risk', 'Pool', 'Cover (USDC)', 'Premium (USDC)'].map((h) => el('th', {}, h)))),
      el(
        'tbody',
        {},
        ...parts.map((a) => el('tr', {}, ...[a.risk.name, a.pool.name, money(a.amount), money(a.premium)].map((c) => el('td', {}, c)))),
      ),
    ),
  );
}

/** The bundle being built on the page: a risk and an amount each, priced together when asked. */
const bundle = [];

function addToBundle() {
  const select = document.getElementById('buy-risk');
  const riskId = select.value;
  const amount = amountOf('buy-amount', 'Cover');
  const name = select.selectedOptions[0]?.textContent ?? riskId;
  const at = bundle.findIndex((i) => i.riskId === riskId);
  if (at >= 0) bundle[at] = { riskId, name, amount };
  else bundle.push({ riskId, name, amount });
  showBundle();
  return bundle.length < 2
    ? `${name} is in the bundle: add another risk, then quote the bundle.`
    : `The bundle covers ${bundle.length} risks: quote it below.`;
}

function showBundle() {
  const box = document.getElementById('bundle');
  box.hidden = bundle.length === 0;
  const go = el('button', { type: 'button', id: 'bundle-go' }, `Quote the bundle of ${bundle.length}`);
  if (bundle.length < 2) go.setAttribute('disabled', '');
  go.addEventListener('click', () => act('buy-result', quoteBundle, go));
  box.replaceChildren(
    el('p', { class: 'muted' }, 'One policy over several risks, priced together: each item pays when its own risk triggers.'),
    el(
      'ul',
      {},
      ...bundle.map((i, n) => {
        const drop = el('button', { type: 'button', class: 'link', 'data-bundle-drop': i.riskId }, 'remove');
        drop.addEventListener('click', () => {
          bundle.splice(n, 1);
          clearQuote();
          showBundle();
        });
        return el('li', { 'data-bundle-item': i.riskId }, `${money(i.amount)} USDC of ${i.name} `, drop);
      }),
    ),
    go,
  );
}

async function quoteBundle() {
  clearQuote();
  const partner = linkedDistributor();
  const { requestBundleQuote: q } = await gql(
    `mutation($i: [CoverItemInput!]!, $d: Int!, $p: DistributorInput) { requestBundleQuote(items: $i, durationDays: $d, distributor: $p) { id expiresAt commission distributor breakdown { capitalTogether } ${QUOTE_FIELDS} } }`,
    { i: bundle.map((i) => ({ riskId: i.riskId, amount: i.amount.toString() })), d: termOf(), p: partner },
  );
  showQuote(q, null, partner);
  return `Bundle quoted: its items hold ${pct(Number(q.breakdown.capitalTogether))} of the capital they would hold apart, and the price says so.`;
}

/**
 * A partner's link names who sells the cover and its commission on the premium:
 * `/?distributor=0x…&commissionBps=500#buy` (issue 72). Null without one, or a malformed one.
 */
export function linkedDistributor() {
  const q = new URLSearchParams(window.location.search);
  const address = q.get('distributor');
  const bps = Number(q.get('commissionBps') ?? '0');
  if (!address || !/^0x[0-9a-fA-F]{40}$/.test(address) || !Number.isInteger(bps) || bps < 0) return null;
  return { address, commissionBps: bps };
}

/** Every pool's offer for the cover quoted, cheapest first. */
function offersTable(offers) {
  if (offers.length < 2) return el('p', { class: 'muted', 'data-offers': offers.length }, 'One pool backs this risk.');
  return el(
    'details',
    { class: 'quote-lines', 'data-offers': offers.length },
    el('summary', {}, `Every pool's offer (${offers.length})`),
    el(
      'div',
      { class: 'table-scroll' },
      el(
        'table',
        {},
        el(
          'thead',
          {},
          el('tr', {}, ...['Pool', 'A year', 'Premium (USDC)', 'Writes (USDC)', 'Can still write (USDC)'].map((h) => el('th', {}, h))),
        ),
        el(
          'tbody',
          {},
          ...offers.map((o) =>
            el(
              'tr',
              {},
              ...[o.pool.name, pct(o.annualRate), money(o.premium), money(o.amount), money(o.capacity)].map((c) => el('td', {}, c)),
            ),
          ),
        ),
      ),
    ),
  );
}

export async function buyQuoted() {
  if (!state.quoted) throw new Error('get a quote first');
  const { purchasePolicy: p } = await gql(
    'mutation($q: ID!) { purchasePolicy(quoteId: $q) { id amount premium endAt risk { name } pool { name } allocations { risk { name } pool { name } } } }',
    { q: state.quoted.id },
  );
  clearQuote();
  const risks = [...new Set(p.allocations.map((a) => a.risk.name))];
  const pools = new Set(p.allocations.map((a) => a.pool.name));
  return `Bought: policy ${p.id} covers ${money(p.amount)} USDC of ${risks.join(' and ')} until ${when(p.endAt)}, from ${pools.size > 1 ? `${pools.size} pools` : p.pool.name}.`;
}

export async function provide() {
  const poolId = document.getElementById('deposit-pool').value;
  const tranche = document.getElementById('deposit-tranche').value;
  const amount = amountOf('deposit-amount', 'The deposit');
  const { deposit: p } = await gql(
    'mutation($p: ID!, $a: BigInt!, $t: TrancheName) { deposit(poolId: $p, amount: $a, tranche: $t) { shares value tranche pool { name } } }',
    { p: poolId, a: amount.toString(), t: tranche },
  );
  return `Deposited ${money(amount)} USDC into ${p.pool.name} ${p.tranche}: your position is ${money(p.value)} USDC.`;
}

export async function requestWithdrawal() {
  const [poolId, tranche] = document.getElementById('withdraw-position').value.split(':');
  const position = state.mineData?.positions.find((p) => p.pool.id === poolId && p.tranche === tranche);
  if (!position) throw new Error('you have no position to withdraw from');
  const typed = document.getElementById('withdraw-amount').value.trim();
  const free = BigInt(position.shares);
  const worth = freeValue(position);
  let shares = free;
  if (typed !== '') {
    const amount = amountOf('withdraw-amount', 'The amount');
    if (amount > worth) throw new Error(`your free shares are worth ${money(worth)} USDC; leave the amount empty to withdraw them all`);
    shares = worth === 0n ? 0n : (amount * free + worth - 1n) / worth;
    if (shares > free) shares = free;
  }
  const { requestWithdrawal: w } = await gql(
    'mutation($p: ID!, $s: BigInt!, $t: TrancheName) { requestWithdrawal(poolId: $p, shares: $s, tranche: $t) { id shares valueAtRequest availableAt pool { name } tranche } }',
    { p: poolId, s: shares.toString(), t: tranche },
  );
  return `Withdrawal requested from ${w.pool.name} ${w.tranche}: ${money(w.valueAtRequest)} USDC now. Complete it from ${when(w.availableAt)}; until then the shares still carry the pool's losses.`;
}

export function setUpTrade() {
  const on = (id, event, run, result) =>
    document.getElementById(id).addEventListener(event, (e) => {
      e.preventDefault();
      void act(result, run, e.submitter ?? e.currentTarget);
    });
  on('buy', 'submit', getQuote, 'buy-result');
  on('bundle-add', 'click', addToBundle, 'buy-result');
  on('provide', 'submit', provide, 'deposit-result');
  on('withdraw', 'submit', requestWithdrawal, 'withdraw-result');
  on('chain-deposit-go', 'click', depositFromWallet, 'chain-result');
  on('chain-withdraw-go', 'click', withdrawToWallet, 'chain-result');
  on('faucet', 'click', fundFromFaucet, 'notice');
  document.getElementById('buy-risk').addEventListener('change', (e) => {
    e.currentTarget.dataset.touched = '1';
  });
  for (const id of ['buy-risk', 'buy-amount', 'buy-days']) {
    for (const event of ['input', 'change']) document.getElementById(id).addEventListener(event, clearQuote);
  }
  // The form allows what the API quotes (GET /dashboard.json).
  const cover = state.serverInfo.cover;
  if (cover) {
    const days = document.getElementById('buy-days');
    days.min = String(cover.minDays);
    days.max = String(cover.maxDays);
    document.getElementById('buy-amount').title = `At least ${cover.minCover} USDC`;
  }
  document.getElementById('deposit-pool').addEventListener('change', fillTranches);
}
