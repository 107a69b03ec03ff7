// The dashboard: plain browser JavaScript against the public GraphQL API, refreshed live by
// its subscriptions (Server-Sent Events). Nothing is loaded from elsewhere.
const money = (v, d = 6) => (Number(v) / 10 ** d).toLocaleString('en', { maximumFractionDigits: 2 });

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
  // A card is at most ~400 px wide, and on a phone the screen less its margins.
  const width = Math.max(240, Math.min(360, window.innerWidth - 80));
  // eslint-disable-next-line no-undef -- the uPlot global from /vendor/uplot/uPlot.iife.min.js
  new uPlot(
    {
      width,
      height: 160,
      series: [
        { label: 'time' },
        { label: 'value', stroke: '#2e90fa', width: 2, value: (_u, v) => (v == null ? '—' : v.toFixed(4)) },
        { label: `threshold ${rule.threshold}`, stroke: '#d92d20', dash: [4, 3], points: { show: false } },
        { label: `recovery ${rule.recoveryThreshold}`, stroke: '#12b76a', dash: [4, 3], points: { show: false } },
      ],
      axes: [{ stroke: '#98a2b3' }, { stroke: '#98a2b3', label: 'price', size: 60, values: (_u, ticks) => ticks.map((t) => t.toFixed(3)) }],
      // One observation alone: a short window around it rather than years.
      scales: { x: { time: true, range: (_u, min, max) => (min === max ? [min - 300, max + 300] : [min, max]) } },
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

async function render() {
  const data = await gql(`{
    settlement { mode chainId token treasury confirmations }
    backstop { balance skimRateBps }
    risks(first: 100) { nodes { id name kind state latestValue triggerProgress { label } monitoring { monitored reason } rule { threshold recoveryThreshold }
      feeds { observations(limit: 60) { value observedAt } } } }
    pools(first: 100) { nodes { id name capital totalExposure capacityLeft adequacyStatus tranches { tranche totalAssets sharePrice } } }
    incidents(first: 10) { nodes { id status settlementValue payoutRatio policiesPaid totalPaid evidenceHash risk { name }
      timeline { state at value } waterfall { pool { name } layer amount } } }
  }`).then(nodes);
  settlement = data.settlement;
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
        el(
          'div',
          { class: 'muted' },
          `latest ${r.latestValue ?? '—'} · threshold ${r.rule.threshold} · recovery ${r.rule.recoveryThreshold}`,
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
          el('td', {}, money(p.capacityLeft)),
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
              `settlement ${i.settlementValue}, ratio ${i.payoutRatio}, ${i.policiesPaid ?? 0} policies paid ${money(i.totalPaid ?? 0)} USDC`,
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
  if (!session) {
    mine.replaceChildren(el('p', { class: 'muted' }, 'Sign in to see your policies and positions.'));
    return;
  }
  const onChain = settlement.mode === 'CHAIN';
  let data;
  try {
    data = await gql(`{
      accountBalance { amount }
      policies(first: 50) { nodes { id status amount premium endAt risk { name } pool { name } payout { paid iou transfer { state txHash } } } }
      positions(first: 100) { nodes { tranche shares lockedShares value pool { name } } }
      ${onChain ? 'chainDeposits(first: 20) { pending { txHash amount } credited { nodes { txHash amount status } } } transfers(first: 20) { nodes { kind amount state txHash } }' : ''}
    }`).then(nodes);
  } catch (e) {
    if (e.code === 'UNAUTHENTICATED') return signOut();
    throw e;
  }
  const td = (text, attrs = {}) => el('td', attrs, text);
  mine.replaceChildren(
    el('div', { id: 'wallet', 'data-balance': data.accountBalance.amount }, `Wallet: ${money(data.accountBalance.amount)} USDC`),
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
      ['Pool', 'Tranche', 'Shares', 'In cooldown', 'Value'],
      data.positions,
      (p) =>
        el(
          'tr',
          { 'data-position': `${p.pool.name}:${p.tranche}` },
          td(p.pool.name),
          td(p.tranche),
          td(money(p.shares)),
          td(money(p.lockedShares)),
          td(`${money(p.value)} USDC`),
        ),
    ),
  );
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
  await startSession({ token: s.token, expiresAt: s.expiresAt, address: s.account.address });
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

async function setUpSignIn() {
  const attempt = (run) => () => void run().catch(showError);
  if (window.ethereum) {
    const button = document.getElementById('wallet-sign-in');
    button.hidden = false;
    button.addEventListener('click', attempt(walletSignIn));
  }
  const res = await fetch('/demo/people').catch(() => null);
  if (res?.ok) {
    const people = await res.json();
    document
      .getElementById('demo-person')
      .replaceChildren(...people.map((p) => el('option', { value: p.address }, `${p.name} ${p.address.slice(0, 8)}…`)));
    document.getElementById('demo-sign-in').hidden = false;
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
  for (const query of ['subscription { riskStateChanged { id } }', 'subscription { incidentUpdated { id } }']) {
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

render()
  .then(() => {
    live();
    return setUpSignIn();
  })
  .catch((e) => {
    document.body.append(el('p', {}, `Could not load: ${e.message}`));
  });
