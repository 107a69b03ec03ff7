import { money, count, pct, when, clock, localTimes } from './format.js';
import { state, gql, nodes } from './api.js';
import { el } from './dom.js';
import { chart } from './chart.js';
import { renderOutlook } from './provider.js';

/** With chain settlement: the treasury contract against what the ledger owes, read from the chain now. */
export async function renderTreasury() {
  const box = document.getElementById('chain');
  box.hidden = state.settlement.mode !== 'CHAIN';
  if (box.hidden) return;
  const { reserves: r } = await gql(
    '{ reserves { blockNumber treasuryBalance placed liabilities pendingOutbound inFlight surplus deficit } }',
  );
  document
    .getElementById('treasury')
    .replaceChildren(
      el(
        'div',
        {},
        `Treasury ${state.settlement.treasury} on chain ${state.settlement.chainId} (token ${state.settlement.token}), at block ${r.blockNumber}:`,
      ),
      el(
        'div',
        { 'data-reserves': r.deficit === '0' ? 'ok' : 'short', class: r.deficit === '0' ? 'GREEN' : 'RED' },
        `holds ${money(r.treasuryBalance)} USDC` +
          (r.placed === '0' ? '' : ` and ${money(r.placed)} USDC placed in yield sources`) +
          `; the ledger owes ${money(r.liabilities)} USDC (${money(r.pendingOutbound)} on its way out); ` +
          (r.deficit === '0' ? `surplus ${money(r.surplus)} USDC` : `SHORT by ${money(r.deficit)} USDC: sales stopped`),
      ),
    );
}

/** The amount and term a card prices: the buy form's defaults. */
const CARD_AMOUNT = 1_000_000_000n;
const CARD_DAYS = 30;

/**
 * Whether cover on a risk is sold now and, if so, what the card's stated cover costs: the API's
 * own answers (capacity: open or why not and when it reopens; quoteEstimate: the price a quote
 * gives now), so the card never says ARMED-and-on-sale while a quote is refused.
 */
async function saleOf(r) {
  try {
    const { capacity: c } = await gql(
      'query($r: ID!, $d: Int!) { capacity(riskId: $r, durationDays: $d) { salesOpen reason reopensAt pools { pool { id } coverLeft bindingCap } } }',
      { r: r.id, d: CARD_DAYS },
    );
    const room = c.pools;
    if (!r.monitoring.monitored) return { open: false, reason: `not monitored: ${r.monitoring.reason}`, room };
    if (!c.salesOpen) return { open: false, reason: c.reason, reopensAt: c.reopensAt, room };
    // Every pool's offer for the stated cover, cheapest first: the cheapest that writes it whole is what a quote charges.
    const { risk } = await gql(
      'query($r: ID!, $a: BigInt!, $d: Int) { risk(id: $r) { offers(amount: $a, durationDays: $d) { pool { name } annualRate amount premium fee } } }',
      { r: r.id, a: CARD_AMOUNT.toString(), d: CARD_DAYS },
    );
    const offers = risk?.offers ?? [];
    const whole = offers[0] && BigInt(offers[0].amount) === CARD_AMOUNT ? offers[0] : null;
    // A cover no one pool writes whole is routed across them: the quote's own price.
    const total = whole
      ? (BigInt(whole.premium) + BigInt(whole.fee)).toString()
      : (
          await gql('query($r: ID!, $a: BigInt!, $d: Int!) { quoteEstimate(riskId: $r, amount: $a, durationDays: $d) { total } }', {
            r: r.id,
            a: CARD_AMOUNT.toString(),
            d: CARD_DAYS,
          })
        ).quoteEstimate.total;
    return { open: true, total, offers, room };
  } catch (e) {
    return { open: false, reason: e.message, room: [] };
  }
}

/** A card's sale line: the stated cover's price now, as a percent a year, or why it is not sold and when it reopens. */
function saleLine(sale) {
  if (sale.open) {
    const yearly = (Number(sale.total) / Number(CARD_AMOUNT)) * (365 / CARD_DAYS);
    return el(
      'div',
      {},
      el(
        'div',
        { 'data-rate': '', 'data-sale': 'open' },
        `${money(CARD_AMOUNT)} USDC of cover for ${CARD_DAYS} days costs ${money(sale.total)} USDC now, fee included: ${pct(yearly)} a year. A quote prices your own amount and term.`,
      ),
      el(
        'div',
        { class: 'muted', 'data-card-offers': sale.offers.length },
        `Offered by ${sale.offers.length === 1 ? 'one pool' : `${sale.offers.length} pools`}: ${sale.offers.map((o) => `${o.pool.name} ${pct(o.annualRate)} a year`).join(' · ')}`,
      ),
    );
  }
  const reopens = sale.reopensAt ? ` Sales reopen ${when(sale.reopensAt)}.` : '';
  return el('div', { class: 'warning', 'data-sale': 'closed' }, `Sales closed: ${localTimes(sale.reason)}.${reopens}`);
}

/**
 * Renders the market: one render at a time, and the events that arrive during one make one
 * more after it (a replay's observation a second must not pile up renders, each asking the
 * API for every card's price).
 */
let rendering = null;
let again = null;
export function render() {
  if (!rendering) {
    rendering = renderMarket().finally(() => {
      rendering = null;
    });
    return rendering;
  }
  again ??= rendering
    .catch(() => undefined)
    .then(() => {
      again = null;
      return render();
    });
  return again;
}

async function renderMarket() {
  const data = await gql(`{
    settlement { mode chainId token treasury confirmations }
    backstop { balance skimRateBps }
    risks(first: 100) { nodes { id name kind terms pricing { annualRate } state latestValue triggerProgress { label } monitoring { monitored reason } rule { threshold recoveryThreshold }
      feeds { observations(limit: 60) { value observedAt } } } }
    pools(first: 100) { nodes { id name curator capital totalExposure capacityLeft utilisation adequacyStatus risks { risk { id } }
      premiumByDay(days: 30) { amount } losses { incidentId amount }
      tranches { tranche totalAssets sharePrice } } }
    incidents(first: 10) { nodes { id status settlementValue payoutRatio policiesPaid totalPaid evidenceHash risk { name }
      timeline { state at value } waterfall { pool { name } layer amount } } }
  }`).then(nodes);
  state.settlement = data.settlement;
  state.market = { risks: data.risks, pools: data.pools, incidents: data.incidents, onSale: state.market.onSale ?? new Set() };
  if (document.body.dataset.view === 'provide') void renderOutlook().catch(console.error);
  await renderTreasury();
  document.getElementById('backstop').textContent =
    `backstop ${money(data.backstop.balance)} USDC, skim ${data.backstop.skimRateBps / 100}%`;
  const sales = await Promise.all(data.risks.map(saleOf));
  state.market.onSale = new Set(data.risks.filter((_, i) => sales[i].open).map((r) => r.id));
  // Each pool's room as cover one policy can still buy: the most over the risks it backs, and the cap that binds it.
  const roomOf = new Map();
  for (const [i, sale] of sales.entries()) {
    for (const p of sale.room) {
      const best = roomOf.get(p.pool.id);
      if (!best || BigInt(p.coverLeft) > BigInt(best.coverLeft)) roomOf.set(p.pool.id, { ...p, risk: data.risks[i].name });
    }
  }
  fillTradeOptions();
  const risks = document.getElementById('risks');
  risks.replaceChildren(
    ...data.risks.map((r, i) =>
      el(
        'div',
        { class: 'card', 'data-risk': r.id },
        el('strong', {}, r.name),
        ' ',
        // The trigger's state, green only while cover is sold: an armed trigger on a risk whose sales are closed is grey.
        el(
          'span',
          { class: `state ${sales[i].open || r.state !== 'ARMED' ? r.state : 'DEGRADED'}`, 'data-state': r.state },
          r.state === 'DEGRADED' ? 'DEGRADED' : r.triggerProgress.label,
        ),
        ' · ',
        sales[i].open ? el('span', { class: 'state GREEN' }, 'on sale') : el('span', { class: 'state AMBER' }, 'sales closed'),
        saleLine(sales[i]),
        el('div', { 'data-terms': '' }, r.terms),
        el(
          'div',
          { class: 'muted' },
          `${r.kind === 'DEPEG' ? 'Stablecoin depeg' : 'Smart-contract failure'} · latest ${r.latestValue === null ? '—' : Number(r.latestValue).toLocaleString('en', { maximumSignificantDigits: 6 })}`,
        ),
        chart(r.feeds[0]?.observations ?? [], r.rule),
      ),
    ),
  );
  document
    .querySelector('#pools tbody')
    .replaceChildren(
      ...data.pools.map((p) =>
        el(
          'tr',
          { 'data-pool': p.id },
          el('td', {}, p.name),
          el('td', {}, p.tranches.map((t) => `${t.tranche} ${money(t.totalAssets)}`).join(' · ')),
          el('td', {}, money(p.totalExposure)),
          el('td', {}, `${(Number(p.utilisation) * 100).toFixed(1)}%`),
          el(
            'td',
            { 'data-cover-left': '' },
            roomOf.has(p.id)
              ? `${money(roomOf.get(p.id).coverLeft)} USDC of ${roomOf.get(p.id).risk} cover (its ${roomOf.get(p.id).bindingCap} cap binds)`
              : '—',
          ),
          el(
            'td',
            { 'data-premium-30d': '' },
            `${money(p.premiumByDay.reduce((s, d) => s + BigInt(d.amount), 0n))} (${money(p.premiumByDay.at(-1)?.amount ?? 0)} today)`,
          ),
          el(
            'td',
            {},
            p.losses.length === 0
              ? 'none'
              : `${money(p.losses.reduce((s, l) => s + BigInt(l.amount), 0n))} in ${new Set(p.losses.map((l) => l.incidentId)).size} incident(s)`,
          ),
          el('td', { class: p.adequacyStatus }, p.adequacyStatus),
        ),
      ),
    );
  document.getElementById('incidents').replaceChildren(
    ...(data.incidents.length === 0
      ? [el('p', { class: 'muted' }, 'No incident yet.')]
      : data.incidents.map((i) =>
          el(
            'div',
            { class: 'incident', 'data-incident': i.id, 'data-status': i.status },
            el('strong', {}, `${i.risk.name}: ${i.status}`),
            el(
              'div',
              {},
              `settled at ${i.settlementValue === null ? '—' : Number(i.settlementValue).toLocaleString('en', { maximumSignificantDigits: 6 })}, paying ${pct(i.payoutRatio ?? 0)} of the cover: ${count(i.policiesPaid ?? 0, 'policy', 'policies')} paid ${money(i.totalPaid ?? 0)} USDC`,
            ),
            el(
              'div',
              { class: 'muted' },
              i.timeline
                .map((e) => `${e.state} ${clock(e.at)} at ${Number(e.value).toLocaleString('en', { maximumSignificantDigits: 6 })}`)
                .join(' → '),
            ),
            el(
              'div',
              { class: 'muted' },
              i.waterfall
                .filter((w) => w.amount !== '0')
                .map((w) => `${w.pool.name} ${w.layer} ${money(w.amount)}`)
                .join(' · '),
            ),
            el('code', {}, i.evidenceHash),
          ),
        )),
  );
}

/** The risk and pool choices follow the market; what a person chose stays chosen. */
export function fillTradeOptions() {
  const keep = (select, options) => {
    const chosen = select.value;
    select.replaceChildren(...options);
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  };
  const riskSelect = document.getElementById('buy-risk');
  keep(
    riskSelect,
    state.market.risks.map((r) =>
      el('option', { value: r.id }, `${r.name} (${state.market.onSale.has(r.id) ? 'on sale' : 'sales closed'})`),
    ),
  );
  // A first visit offers a risk on sale (the API quotes it now), never one whose quote it refuses.
  if (!riskSelect.dataset.touched) {
    const onSale = state.market.risks.find((r) => state.market.onSale.has(r.id));
    if (onSale) riskSelect.value = onSale.id;
  }
  keep(
    document.getElementById('deposit-pool'),
    state.market.pools.map((p) => el('option', { value: p.id }, p.name)),
  );
  keep(
    document.getElementById('outlook-pool'),
    state.market.pools.map((p) => el('option', { value: p.id }, p.name)),
  );
  fillTranches();
}

export function fillTranches() {
  const pool = state.market.pools.find((p) => p.id === document.getElementById('deposit-pool').value);
  const select = document.getElementById('deposit-tranche');
  const chosen = select.value;
  // Senior first (the API's default); the first-loss stake is the curator's alone.
  const order = ['SENIOR', 'JUNIOR', 'FIRST_LOSS'];
  const curator = Boolean(pool && state.session && pool.curator.toLowerCase() === state.session.address.toLowerCase());
  select.replaceChildren(
    ...[...(pool?.tranches ?? [])]
      .filter((t) => t.tranche !== 'FIRST_LOSS' || curator)
      .sort((a, b) => order.indexOf(a.tranche) - order.indexOf(b.tranche))
      .map((t) => el('option', { value: t.tranche }, `${t.tranche}, share price ${Number(t.sharePrice).toFixed(4)}`)),
  );
  if ([...select.options].some((o) => o.value === chosen && !o.disabled)) select.value = chosen;
}

export function fillWithdrawOptions() {
  const select = document.getElementById('withdraw-position');
  const chosen = select.value;
  const free = (state.mineData?.positions ?? []).filter((p) => BigInt(p.shares) > 0n);
  select.replaceChildren(
    ...(free.length === 0
      ? [el('option', { value: '' }, 'No position to withdraw from')]
      : free.map((p) => el('option', { value: `${p.pool.id}:${p.tranche}` }, `${p.pool.name} ${p.tranche}: ${money(freeValue(p))} USDC`))),
  );
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

/** What the shares not already in cooldown are worth (value covers both, pro rata). */
export function freeValue(p) {
  const all = BigInt(p.shares) + BigInt(p.lockedShares);
  return all === 0n ? 0n : (BigInt(p.value) * BigInt(p.shares)) / all;
}
