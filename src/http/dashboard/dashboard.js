// The dashboard: plain browser JavaScript against the public GraphQL API, refreshed live by
// its subscriptions (Server-Sent Events). Nothing is loaded from elsewhere.
const money = (v, d = 6) => {
  const text = (Number(v) / 10 ** d).toLocaleString('en', { maximumFractionDigits: 2 });
  // A loss too small to show at two decimals is 0, not "-0".
  return /^-0(\.0+)?$/.test(text) ? '0' : text;
};
/** "1 policy", "2 policies". */
const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** The signed-in session ({ token, address, expiresAt, name? }), kept for this tab only. */
let session = null;
try {
  session = JSON.parse(sessionStorage.getItem('session') ?? 'null');
  if (session && Date.parse(session.expiresAt) <= Date.now()) session = null;
} catch {
  session = null;
}

async function gql(query, variables = {}, token = session?.token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (body.errors) throw Object.assign(new Error(body.errors[0].message), { code: body.errors[0].extensions?.code });
  return body.data;
}

/**
 * A GraphQL subscription over Server-Sent Events, read with fetch so that it can carry the
 * session's bearer token; reconnects after a pause if the stream ends or fails.
 */
function subscribe(query, { token, onOpen, onNext, onDown }) {
  let stopped = false;
  const abort = new AbortController();
  const run = async () => {
    while (!stopped) {
      try {
        const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
        if (token) headers.authorization = `Bearer ${token}`;
        const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query }), signal: abort.signal });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        onOpen?.();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done || stopped) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (/^event: next$/m.test(frame)) onNext?.();
          }
        }
      } catch {
        // fall through to the pause and reconnect
      }
      onDown?.();
      if (!stopped) await new Promise((r) => setTimeout(r, 2_000));
    }
  };
  void run();
  return () => {
    stopped = true;
    abort.abort();
  };
}

/** Lists come as pages ({ nodes, pageInfo }); the page shows the first page of each. */
function nodes(data) {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v && Array.isArray(v.nodes) ? v.nodes : v]));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** A card is at most ~400 px wide, and on a phone the screen less its margins. */
const chartWidth = () => Math.max(220, Math.min(360, document.documentElement.clientWidth - 80));
/** Time on the x axis; one point alone gets a short window around it rather than years. */
const timeScale = { time: true, range: (_u, min, max) => (min === max ? [min - 300, max + 300] : [min, max]) };
/** Time ticks as a reader wants them: hours and minutes within a day, else the day (never ":17.000"). */
const timeAxis = {
  stroke: '#98a2b3',
  values: (u, ticks) => {
    const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
    return ticks.map((t) => {
      const d = new Date(t * 1000);
      return span > 2 * 86_400 ? d.toISOString().slice(5, 10) : d.toISOString().slice(11, 16);
    });
  },
};

/**
 * Observed values against the threshold and recovery lines: a uPlot chart (vendored from
 * npm, served at /vendor/uplot) with a time axis, a value axis, a legend and the value under
 * the pointer.
 */
function chart(observations, rule) {
  const box = el('div', { class: 'chart', 'data-chart': 'observations' });
  const points = [...observations].reverse();
  const times = points.map((o) => Date.parse(o.observedAt) / 1000);
  const values = points.map((o) => Number(o.value));
  const flat = (v) => times.map(() => Number(v));
  if (times.length === 0) {
    box.append(el('p', { class: 'muted' }, 'No observations yet.'));
    return box;
  }
  // One point is not a line: say it rather than draw an empty axis.
  if (times.length === 1) {
    box.append(
      el(
        'p',
        { class: 'muted' },
        `One observation so far: ${points[0].value} at ${new Date(times[0] * 1000).toISOString().slice(11, 16)} UTC.`,
      ),
    );
    return box;
  }
  // eslint-disable-next-line no-undef -- the uPlot global from /vendor/uplot/uPlot.iife.min.js
  new uPlot(
    {
      width: chartWidth(),
      height: 160,
      series: [
        { label: 'time' },
        { label: 'value', stroke: '#2e90fa', width: 2, value: (_u, v) => (v == null ? '—' : v.toFixed(4)) },
        { label: `threshold ${rule.threshold}`, stroke: '#d92d20', dash: [4, 3], points: { show: false } },
        { label: `recovery ${rule.recoveryThreshold}`, stroke: '#12b76a', dash: [4, 3], points: { show: false } },
      ],
      axes: [timeAxis, { stroke: '#98a2b3', label: 'price', size: 60, values: (_u, ticks) => ticks.map((t) => t.toFixed(3)) }],
      scales: { x: timeScale },
    },
    [times, values, flat(rule.threshold), flat(rule.recoveryThreshold)],
    box,
  );
  return box;
}

/** How the server settles ({ mode, chainId, token, treasury, confirmations }), read with the first render. */
let settlement = { mode: 'LEDGER' };
const short = (hash) => (hash ? `${hash.slice(0, 10)}…${hash.slice(-6)}` : '');

/** With chain settlement: the treasury contract against what the ledger owes, read from the chain now. */
async function renderTreasury() {
  const box = document.getElementById('chain');
  box.hidden = settlement.mode !== 'CHAIN';
  if (box.hidden) return;
  const { reserves: r } = await gql('{ reserves { blockNumber treasuryBalance liabilities pendingOutbound inFlight surplus deficit } }');
  document
    .getElementById('treasury')
    .replaceChildren(
      el(
        'div',
        {},
        `Treasury ${settlement.treasury} on chain ${settlement.chainId} (token ${settlement.token}), at block ${r.blockNumber}:`,
      ),
      el(
        'div',
        { 'data-reserves': r.deficit === '0' ? 'ok' : 'short', class: r.deficit === '0' ? 'GREEN' : 'RED' },
        `holds ${money(r.treasuryBalance)} USDC; the ledger owes ${money(r.liabilities)} USDC (${money(r.pendingOutbound)} on its way out); ` +
          (r.deficit === '0' ? `surplus ${money(r.surplus)} USDC` : `SHORT by ${money(r.deficit)} USDC: sales stopped`),
      ),
    );
}

/** The market as last rendered: what the trade forms offer. */
let market = { risks: [], pools: [] };

async function render() {
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
  settlement = data.settlement;
  market = { risks: data.risks, pools: data.pools };
  fillTradeOptions();
  await renderTreasury();
  document.getElementById('backstop').textContent =
    `backstop ${money(data.backstop.balance)} USDC, skim ${data.backstop.skimRateBps / 100}%`;
  const risks = document.getElementById('risks');
  risks.replaceChildren(
    ...data.risks.map((r) =>
      el(
        'div',
        { class: 'card', 'data-risk': r.id },
        el('strong', {}, r.name),
        ' ',
        el('span', { class: `state ${r.state}`, 'data-state': r.state }, r.state === 'DEGRADED' ? 'DEGRADED' : r.triggerProgress.label),
        r.monitoring.monitored
          ? ''
          : el('div', { class: 'warning', 'data-monitoring': 'off' }, `Not monitored: ${r.monitoring.reason}. No cover is sold.`),
        el('div', { 'data-terms': '' }, r.terms),
        el(
          'div',
          { 'data-rate': '' },
          `About ${(Number(r.pricing.annualRate) * 100).toFixed(Number(r.pricing.annualRate) < 0.1 ? 2 : 1)}% of the amount a year, before the pool's utilisation and the platform fee.`,
        ),
        el(
          'div',
          { class: 'muted' },
          `${r.kind === 'DEPEG' ? 'Stablecoin depeg' : 'Smart-contract failure'} · latest ${r.latestValue ?? '—'}`,
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
          el('td', {}, money(p.capacityLeft)),
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
              `settlement ${i.settlementValue}, ratio ${i.payoutRatio}, ${count(i.policiesPaid ?? 0, 'policy', 'policies')} paid ${money(i.totalPaid ?? 0)} USDC`,
            ),
            el(
              'div',
              { class: 'muted' },
              i.timeline.map((e) => `${e.state} ${new Date(e.at).toISOString().slice(11, 19)} at ${e.value}`).join(' → '),
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

/** The signed-in person's wallet, policies (with payouts) and underwriting positions. */
async function renderMine() {
  const mine = document.getElementById('mine');
  document.getElementById('who').textContent = session ? `signed in as ${session.name ? `${session.name} ` : ''}${session.address}` : '';
  document.getElementById('sign-out').hidden = !session;
  // Visitors quote too (an estimate); capital and money on chain need a session.
  document.getElementById('trade').hidden = false;
  for (const id of ['provide', 'withdraw']) document.getElementById(id).hidden = !session;
  document.getElementById('faucet').hidden = !(session && serverInfo.demo.faucet);
  document.getElementById('chain-money').hidden = !(session && settlement.mode === 'CHAIN');
  // The ways in, only while signed out.
  document.getElementById('wallet-sign-in').hidden = Boolean(session) || !window.ethereum;
  document.getElementById('demo-sign-in').hidden = Boolean(session) || !demoPeopleOffered;
  document.getElementById('visitor').hidden = Boolean(session);
  // Whether the first-loss tranche is open depends on who is signed in.
  fillTranches();
  if (!session) {
    mineData = null;
    mine.replaceChildren(el('p', { class: 'muted' }, 'Sign in to see your policies and positions.'));
    visitorHelp();
    return;
  }
  const onChain = settlement.mode === 'CHAIN';
  let data;
  try {
    data = await gql(`{
      accountBalance { amount }
      policies(first: 50) { nodes { id status amount premium endAt risk { name } pool { name } payout { paid iou transfer { state txHash } } } }
      positions(first: 100) { nodes { tranche shares lockedShares value pool { id name }
        earnings { deposited withdrawn premiumEarned lossesTotal netEarned realisedYield annualisedYield losses { incidentId amount }
          sharePrice { at sharePrice } } } }
      withdrawals(first: 20) { nodes { id tranche shares valueAtRequest availableAt status paid pool { name } } }
      ${onChain ? 'chainDeposits(first: 20) { pending { txHash amount } credited { nodes { txHash amount status } } } transfers(first: 20) { nodes { kind amount state txHash } }' : ''}
    }`).then(nodes);
  } catch (e) {
    if (e.code === 'UNAUTHENTICATED') return signOut();
    throw e;
  }
  mineData = data;
  fillWithdrawOptions();
  if (onChain) void showChainWalletBalance().catch(() => undefined);
  const td = (text, attrs = {}) => el('td', attrs, text);
  mine.replaceChildren(
    el(
      'div',
      { id: 'wallet', 'data-balance': data.accountBalance.amount },
      `Balance on the platform: ${money(data.accountBalance.amount)} USDC (buys cover and capital; ${onChain ? 'move it to your wallet on chain below' : 'credited by the platform'})`,
    ),
    ...section(
      'my-policies',
      'Policies',
      'No policies.',
      ['Risk', 'Pool', 'Cover', 'Premium', 'Ends', 'Status', 'Paid', ...(onChain ? ['On chain'] : [])],
      data.policies,
      (p) =>
        el(
          'tr',
          { 'data-policy': p.id, 'data-status': p.status },
          td(p.risk.name),
          td(p.pool.name),
          td(money(p.amount)),
          td(money(p.premium)),
          td(new Date(p.endAt).toISOString().slice(0, 10)),
          td(p.status, { class: p.status }),
          td(p.payout ? `${money(p.payout.paid)} USDC${p.payout.iou !== '0' ? ` (IOU ${money(p.payout.iou)})` : ''}` : '—'),
          ...(onChain
            ? [td(p.payout?.transfer ? `${p.payout.transfer.state} ${short(p.payout.transfer.txHash)}` : '—', txAttrs(p.payout?.transfer))]
            : []),
        ),
    ),
    ...(onChain ? chainActivity(data) : []),
    ...section(
      'my-positions',
      'Positions',
      'No underwriting positions.',
      ['Pool', 'Tranche', 'Value now', 'Deposited', 'Withdrawn', 'Premium earned', 'Losses', 'Net', 'Yield', 'In cooldown'],
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
              : p.earnings.losses.map((l) => `${money(l.amount)} (${l.incidentId ?? 'other'})`).join(', '),
            { title: 'per incident' },
          ),
          td(signed(p.earnings.netEarned), { class: BigInt(p.earnings.netEarned) < 0n ? 'RED' : 'GREEN' }),
          td(
            `${percent(p.earnings.realisedYield)} booked · ${p.earnings.annualisedYield === null ? 'under an hour' : `${percent(p.earnings.annualisedYield)} a year`}`,
          ),
          td(money(p.lockedShares)),
        ),
    ),
    ...sharePriceCharts(data.positions),
    ...section(
      'my-withdrawals',
      'Withdrawal requests',
      'No withdrawal requests.',
      ['Pool', 'Tranche', 'Shares', 'Value at request', 'Available from', 'Status'],
      data.withdrawals,
      (w) =>
        el(
          'tr',
          { 'data-withdrawal': w.id, 'data-status': w.status },
          td(w.pool.name),
          td(w.tranche),
          td(money(w.shares)),
          td(`${money(w.valueAtRequest)} USDC`),
          td(when(w.availableAt)),
          w.status === 'COMPLETED' ? td(`paid ${money(w.paid)} USDC`) : el('td', {}, completeButton(w)),
        ),
    ),
  );
}

const signed = (v) => `${BigInt(v) > 0n ? '+' : ''}${money(v)} USDC`.replace(/^-0 /, '0 ');
const percent = (d) => (d === null ? '—' : `${(Number(d) * 100).toFixed(2)}%`);

/** Each position's tranche share price over time (deposits, premium, losses): a small uPlot line. */
function sharePriceCharts(positions) {
  if (positions.length === 0) return [];
  const box = el('div', { class: 'cards', id: 'share-prices' });
  for (const p of positions.slice(0, 6)) {
    const card = el(
      'div',
      { class: 'card', 'data-share-price': `${p.pool.name}:${p.tranche}` },
      el('strong', {}, `${p.pool.name} ${p.tranche}`),
    );
    const points = p.earnings.sharePrice;
    const times = points.map((x) => Date.parse(x.at) / 1000);
    // eslint-disable-next-line no-undef -- the uPlot global from /vendor/uplot/uPlot.iife.min.js
    new uPlot(
      {
        width: chartWidth(),
        height: 130,
        series: [
          { label: 'time' },
          { label: 'share price (USDC)', stroke: '#7a5af8', width: 2, value: (_u, v) => (v == null ? '—' : v.toFixed(6)) },
        ],
        axes: [timeAxis, { stroke: '#98a2b3', size: 70, values: (_u, ticks) => ticks.map((t) => t.toFixed(4)) }],
        scales: {
          x: timeScale,
          // A price that barely moves still gets a readable axis (uPlot cannot tick a range of 1e-12).
          y: {
            range: (_u, min, max) => {
              const pad = Math.max((max - min) * 0.1, Math.abs(max) * 0.0005, 1e-6);
              return [min - pad, max + pad];
            },
          },
        },
      },
      [times, points.map((x) => Number(x.sharePrice))],
      card,
    );
    box.append(card);
  }
  return [el('h3', {}, 'Share price over time'), box];
}

/** A date and time in the reader's own zone, to the minute. */
function when(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A pending withdrawal's button: completes it, or says why not yet. */
function completeButton(w) {
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

/** A heading with a count, then a table of `rows` (or a note when there are none). */
function section(id, title, empty, headers, rows, row) {
  return [
    el('h3', {}, `${title} (${rows.length})`),
    rows.length === 0
      ? el('p', { class: 'muted' }, empty)
      : el('table', { id }, el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))), el('tbody', {}, ...rows.map(row))),
  ];
}

/** A cell's attributes for a transaction: its full hash in data-tx and the tooltip. */
function txAttrs(t) {
  return t?.txHash ? { 'data-tx': t.txHash, title: t.txHash, class: 'tx' } : {};
}

/** The token balance of the signed-in address's wallet on chain, read through the browser's wallet (none without one). */
async function showChainWalletBalance() {
  const box = document.getElementById('chain-balance');
  if (!window.ethereum || !session || !settlement.token) {
    box.textContent = '';
    return;
  }
  const raw = await window.ethereum.request({
    method: 'eth_call',
    params: [{ to: settlement.token, data: `0x70a08231${addressWord(session.address)}` }, 'latest'],
  });
  box.textContent = `In your wallet on chain: ${money(BigInt(raw))} USDC`;
  box.dataset.balance = BigInt(raw).toString();
}

/** Deposits into the treasury and transfers out of it for the signed-in address, with their transactions. */
function chainActivity(data) {
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

/** The signed-in person's policies, positions and withdrawals as last rendered. */
let mineData = null;

/**
 * An amount typed by a person ("1,000.50") in base units, exactly (no floating point), or
 * null when it is not a positive amount with at most `decimals` decimals.
 */
function toBase(text, decimals = 6) {
  const m = /^(\d+)(?:\.(\d*))?$/.exec(String(text).replace(/[,\s_]/g, ''));
  if (!m || (m[2] ?? '').length > decimals) return null;
  const v = BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt((m[2] ?? '').padEnd(decimals, '0') || '0');
  return v > 0n ? v : null;
}

/** Shows the outcome of an action in plain words beside its form: what happened, or why not (outcome: ok, refused or working). */
function tell(id, text, outcome) {
  const box = document.getElementById(id);
  box.hidden = false;
  box.textContent = text;
  box.className = `result ${outcome === 'refused' ? 'error' : 'ok'}`;
  box.dataset.outcome = outcome;
}

/** Runs an action with its button disabled; its result or refusal goes to `#id`; the views refresh. */
async function act(id, run, button) {
  if (button) button.disabled = true;
  tell(id, 'Working…', 'working');
  try {
    const done = await run();
    // The views show the change before the action reports it: what follows sees it.
    await Promise.all([render(), renderMine()]).catch(console.error);
    tell(id, done, 'ok');
  } catch (e) {
    tell(id, `Refused: ${e.message}`, 'refused');
  } finally {
    if (button) button.disabled = false;
  }
}

/** Whether a thrown error is about the amount typed, said in plain words. */
function amountOf(input, what) {
  const v = toBase(document.getElementById(input).value);
  if (v === null) throw new Error(`${what} must be a positive amount in USDC, e.g. 1000 or 250.50`);
  return v;
}

/** The risk and pool choices follow the market; what a person chose stays chosen. */
function fillTradeOptions() {
  const keep = (select, options) => {
    const chosen = select.value;
    select.replaceChildren(...options);
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  };
  const riskSelect = document.getElementById('buy-risk');
  keep(
    riskSelect,
    market.risks.map((r) => el('option', { value: r.id }, `${r.name} (${r.monitoring.monitored ? r.state : 'not monitored'})`)),
  );
  // A first visit offers a risk on sale: watched and armed.
  if (!riskSelect.dataset.touched) {
    const onSale = market.risks.find((r) => r.state === 'ARMED' && r.monitoring.monitored);
    if (onSale) riskSelect.value = onSale.id;
  }
  keep(
    document.getElementById('deposit-pool'),
    market.pools.map((p) => el('option', { value: p.id }, p.name)),
  );
  fillTranches();
}

function fillTranches() {
  const pool = market.pools.find((p) => p.id === document.getElementById('deposit-pool').value);
  const select = document.getElementById('deposit-tranche');
  const chosen = select.value;
  // Senior first (the API's default); the first-loss stake is the curator's alone.
  const order = ['SENIOR', 'JUNIOR', 'FIRST_LOSS'];
  const curator = Boolean(pool && session && pool.curator.toLowerCase() === session.address.toLowerCase());
  select.replaceChildren(
    ...[...(pool?.tranches ?? [])]
      .sort((a, b) => order.indexOf(a.tranche) - order.indexOf(b.tranche))
      .map((t) => {
        const closed = t.tranche === 'FIRST_LOSS' && !curator;
        return el(
          'option',
          closed ? { value: t.tranche, disabled: '' } : { value: t.tranche },
          `${t.tranche}${closed ? ' (the curator only)' : ''}, share price ${Number(t.sharePrice).toFixed(4)}`,
        );
      }),
  );
  if ([...select.options].some((o) => o.value === chosen && !o.disabled)) select.value = chosen;
}

function fillWithdrawOptions() {
  const select = document.getElementById('withdraw-position');
  const chosen = select.value;
  const free = (mineData?.positions ?? []).filter((p) => BigInt(p.shares) > 0n);
  select.replaceChildren(
    ...(free.length === 0
      ? [el('option', { value: '' }, 'No position to withdraw from')]
      : free.map((p) => el('option', { value: `${p.pool.id}:${p.tranche}` }, `${p.pool.name} ${p.tranche}: ${money(freeValue(p))} USDC`))),
  );
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

/** What the shares not already in cooldown are worth (value covers both, pro rata). */
function freeValue(p) {
  const all = BigInt(p.shares) + BigInt(p.lockedShares);
  return all === 0n ? 0n : (BigInt(p.value) * BigInt(p.shares)) / all;
}

let quoted = null;

async function getQuote() {
  const riskId = document.getElementById('buy-risk').value;
  const amount = amountOf('buy-amount', 'Cover');
  const days = Number(document.getElementById('buy-days').value);
  if (!Number.isInteger(days) || days < 1) throw new Error('Days must be a whole number of days, at least 1');
  const fields = 'amount durationDays premium fee total risk { name } pool { name } summary lines { label value }';
  // A visitor gets the same price as an estimate (nothing stored); a signed-in buyer a firm quote.
  const q = session
    ? (
        await gql(
          `mutation($r: ID!, $a: BigInt!, $d: Int!) { requestQuote(riskId: $r, amount: $a, durationDays: $d) { id expiresAt ${fields} } }`,
          {
            r: riskId,
            a: amount.toString(),
            d: days,
          },
        )
      ).requestQuote
    : (
        await gql(`query($r: ID!, $a: BigInt!, $d: Int!) { quoteEstimate(riskId: $r, amount: $a, durationDays: $d) { ${fields} } }`, {
          r: riskId,
          a: amount.toString(),
          d: days,
        })
      ).quoteEstimate;
  quoted = session ? q : null;
  const box = document.getElementById('quote');
  const buy = session
    ? el('button', { type: 'button', id: 'buy-go' }, `Buy cover for ${money(q.total)} USDC`)
    : el('button', { type: 'button', id: 'buy-go', disabled: '' }, 'Sign in to buy at this price');
  if (session) buy.addEventListener('click', () => act('buy-result', buyQuoted, buy));
  box.replaceChildren(
    el(
      'p',
      { 'data-quote': q.id },
      `${money(q.amount)} USDC of ${q.risk.name} cover for ${q.durationDays} days from ${q.pool.name}: premium ${money(q.premium)} + fee ${money(q.fee)} = ${money(q.total)} USDC. ${session ? `The price is held until ${new Date(q.expiresAt).toLocaleTimeString()}.` : 'An estimate: sign in for a firm quote at this price.'}`,
    ),
    // The price in plain words first: what it costs a year and what that is made of.
    el('p', { 'data-quote-summary': '' }, q.summary),
    // How the price was worked out, line by line (the expected loss from the risk's history and its loads).
    el(
      'details',
      { class: 'quote-lines' },
      el('summary', {}, 'How this price was worked out'),
      el('dl', {}, ...q.lines.flatMap((l) => [el('dt', {}, l.label), el('dd', {}, l.value)])),
    ),
    buy,
  );
  box.hidden = false;
  return session ? 'Quoted: buy it below at exactly this price.' : 'Estimated: sign in to buy.';
}

async function buyQuoted() {
  if (!quoted) throw new Error('get a quote first');
  const { purchasePolicy: p } = await gql(
    'mutation($q: ID!) { purchasePolicy(quoteId: $q) { id amount premium endAt risk { name } pool { name } } }',
    { q: quoted.id },
  );
  quoted = null;
  document.getElementById('quote').hidden = true;
  return `Bought: policy ${p.id} covers ${money(p.amount)} USDC of ${p.risk.name} until ${when(p.endAt)}, from ${p.pool.name}.`;
}

async function provide() {
  const poolId = document.getElementById('deposit-pool').value;
  const tranche = document.getElementById('deposit-tranche').value;
  const amount = amountOf('deposit-amount', 'The deposit');
  const { deposit: p } = await gql(
    'mutation($p: ID!, $a: BigInt!, $t: TrancheName) { deposit(poolId: $p, amount: $a, tranche: $t) { shares value tranche pool { name } } }',
    { p: poolId, a: amount.toString(), t: tranche },
  );
  return `Deposited ${money(amount)} USDC into ${p.pool.name} ${p.tranche}: your position is ${money(p.value)} USDC.`;
}

async function requestWithdrawal() {
  const [poolId, tranche] = document.getElementById('withdraw-position').value.split(':');
  const position = mineData?.positions.find((p) => p.pool.id === poolId && p.tranche === tranche);
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

const word = (v) => v.toString(16).padStart(64, '0');
/** The wallet's address as a 32-byte ABI word. */
const addressWord = (a) => word(BigInt(a));

/** The browser wallet on the settlement chain, or a plain-words reason why not. */
async function walletOnSettlementChain() {
  const wallet = window.ethereum;
  if (!wallet || !session?.wallet) throw new Error('sign in with your browser wallet to move money from or to it');
  const want = settlement.chainId;
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
async function mined(wallet, hash) {
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
async function depositFromWallet() {
  const amount = amountOf('chain-amount', 'The amount');
  const wallet = await walletOnSettlementChain();
  const from = session.address;
  const send = (to, data) => wallet.request({ method: 'eth_sendTransaction', params: [{ from, to, data }] });
  await mined(wallet, await send(settlement.token, `0x095ea7b3${addressWord(settlement.treasury)}${word(amount)}`));
  const hash = await send(settlement.treasury, `0x6e553f65${word(amount)}${addressWord(from)}`);
  await mined(wallet, hash);
  followChain();
  return `Deposit of ${money(amount)} USDC sent from your wallet (transaction ${short(hash)}): it is credited after ${settlement.confirmations} confirmations.`;
}

/** Money moving on chain changes state without an event for this page: refresh for half a minute. */
function followChain() {
  let checks = 0;
  const timer = setInterval(() => {
    void renderMine().catch(console.error);
    if (++checks >= 20) clearInterval(timer);
  }, 1_500);
}

async function withdrawToWallet() {
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
async function fundFromFaucet() {
  const res = await fetch('/demo/faucet', { method: 'POST', headers: { authorization: `Bearer ${session.token}` } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.errors?.[0]?.message ?? `HTTP ${res.status}`);
  if (body.alreadyFunded) return 'The demo faucet already funded this wallet.';
  return `Demo: ${money(body.credited)} USDC credited to your balance on the platform${body.inWallet !== '0' ? `, and ${money(body.inWallet)} test USDC put in your wallet on chain` : ''}, to try the market with.`;
}

function setUpTrade() {
  const on = (id, event, run, result) =>
    document.getElementById(id).addEventListener(event, (e) => {
      e.preventDefault();
      void act(result, run, e.submitter ?? e.currentTarget);
    });
  on('buy', 'submit', getQuote, 'buy-result');
  on('provide', 'submit', provide, 'deposit-result');
  on('withdraw', 'submit', requestWithdrawal, 'withdraw-result');
  on('chain-deposit-go', 'click', depositFromWallet, 'chain-result');
  on('chain-withdraw-go', 'click', withdrawToWallet, 'chain-result');
  on('faucet', 'click', fundFromFaucet, 'notice');
  document.getElementById('buy-risk').addEventListener('change', (e) => {
    e.currentTarget.dataset.touched = '1';
    document.getElementById('quote').hidden = true;
  });
  document.getElementById('deposit-pool').addEventListener('change', fillTranches);
}

function showError(e) {
  const box = document.getElementById('signin-error');
  box.hidden = !e;
  box.textContent = e ? `Sign-in failed: ${e.message}` : '';
}

let stopMine = () => {};
function startSession(s) {
  session = s;
  sessionStorage.setItem('session', JSON.stringify(s));
  showError(null);
  stopMine();
  // Payouts to this account arrive on their own authenticated subscription.
  stopMine = subscribe('subscription { policyPaid { policyId } }', {
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
async function endSession() {
  if (session) await gql('mutation { signOut }').catch(() => undefined);
  return signOut();
}

function signOut() {
  session = null;
  sessionStorage.removeItem('session');
  stopMine();
  return renderMine();
}

/** EIP-4361 text, as the API's parser (viem) reads it. */
function siweMessage({ domain, address, uri, chainId, nonce, issuedAt }) {
  return `${domain} wants you to sign in with your Ethereum account:\n${address}\n\nSign in to the parametric cover marketplace.\n\nURI: ${uri}\nVersion: 1\nChain ID: ${chainId}\nNonce: ${nonce}\nIssued At: ${issuedAt}`;
}

/** Sign-In with Ethereum through the browser's wallet (EIP-1193 `window.ethereum`). */
async function walletSignIn() {
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
  if (serverInfo.demo.faucet) await act('notice', fundFromFaucet);
}

/** Demo mode only (`npm run demo`): the server signs in one of its seeded people. */
async function demoSignIn(address) {
  const res = await fetch('/demo/sessions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(body.errors?.[0]?.message ?? `HTTP ${res.status}`);
  await startSession(body);
}

/** Whether this server offers demo people (npm run demo). */
let demoPeopleOffered = false;

/** What a visitor can do, and how to do more, in words that fit what this browser has. */
function visitorHelp() {
  const ways = [];
  if (window.ethereum) ways.push('sign in with your wallet (it signs a Sign-In with Ethereum message: no transaction, no gas)');
  else
    ways.push(
      'sign in with an Ethereum wallet in this browser (a wallet extension such as MetaMask; it signs a Sign-In with Ethereum message, no transaction, no gas)',
    );
  if (demoPeopleOffered) ways.push('use one of the demo people');
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

async function setUpSignIn() {
  const attempt = (run) => () => void run().catch(showError);
  if (window.ethereum) document.getElementById('wallet-sign-in').addEventListener('click', attempt(walletSignIn));
  setUpTrade();
  const res = serverInfo.demo.people ? await fetch('/demo/people').catch(() => null) : null;
  if (res?.ok) {
    const people = await res.json();
    document
      .getElementById('demo-person')
      .replaceChildren(...people.map((p) => el('option', { value: p.address }, `${p.name} ${p.address.slice(0, 8)}…`)));
    demoPeopleOffered = people.length > 0;
    document.getElementById('demo-go').addEventListener(
      'click',
      attempt(() => demoSignIn(document.getElementById('demo-person').value)),
    );
  }
  document.getElementById('sign-out').addEventListener('click', attempt(endSession));
  if (session) await startSession(session);
  else await renderMine();
}

function live() {
  const badge = document.getElementById('live');
  for (const query of ['subscription { riskObserved { id } }', 'subscription { incidentUpdated { id } }']) {
    subscribe(query, {
      onOpen: () => {
        badge.textContent = 'live';
        badge.classList.add('on');
      },
      onNext: () => {
        void render().catch(console.error);
        if (session) void renderMine().catch(console.error);
      },
      onDown: () => badge.classList.remove('on'),
    });
  }
}

/** What this server offers the page (GET /dashboard.json): whether the demo's routes exist. */
let serverInfo = { demo: { people: false, faucet: false } };

fetch('/dashboard.json')
  .then((res) => (res.ok ? res.json() : serverInfo))
  .then((info) => {
    serverInfo = info;
    return render();
  })
  .then(() => {
    live();
    return setUpSignIn();
  })
  .catch((e) => {
    document.body.append(el('p', {}, `Could not load: ${e.message}`));
  });
