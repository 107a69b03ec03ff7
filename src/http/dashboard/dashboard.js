// The dashboard: plain browser JavaScript against the public GraphQL API, refreshed live by
// its subscriptions (Server-Sent Events). Nothing is loaded from elsewhere.
const money = (v, d = 6) => (Number(v) / 10 ** d).toLocaleString('en', { maximumFractionDigits: 2 });

async function gql(query, variables = {}) {
  const res = await fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = await res.json();
  if (body.errors) throw new Error(body.errors[0].message);
  return body.data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** Observed values against the threshold and recovery lines, as an inline SVG. */
function chart(observations, rule) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 300 90');
  svg.setAttribute('preserveAspectRatio', 'none');
  const values = observations.map((o) => Number(o.value)).reverse();
  const lines = [Number(rule.threshold), Number(rule.recoveryThreshold)];
  const all = values.concat(lines);
  const lo = Math.min(...all) - 0.002;
  const hi = Math.max(...all) + 0.002;
  const y = (v) => 85 - ((v - lo) / (hi - lo || 1)) * 80;
  for (const [v, color] of [[lines[0], '#d92d20'], [lines[1], '#12b76a']]) {
    const line = document.createElementNS(ns, 'line');
    Object.entries({ x1: 0, x2: 300, y1: y(v), y2: y(v), stroke: color, 'stroke-dasharray': '4 3', 'stroke-width': 1 }).forEach(([k, val]) => line.setAttribute(k, val));
    svg.append(line);
  }
  if (values.length > 0) {
    const path = document.createElementNS(ns, 'polyline');
    const step = values.length > 1 ? 300 / (values.length - 1) : 0;
    path.setAttribute('points', values.map((v, i) => `${(i * step).toFixed(1)},${y(v).toFixed(1)}`).join(' '));
    Object.entries({ fill: 'none', stroke: '#2e90fa', 'stroke-width': 2 }).forEach(([k, val]) => path.setAttribute(k, val));
    svg.append(path);
  }
  return svg;
}

async function render() {
  const data = await gql(`{
    backstop { balance skimRateBps }
    risks { id name kind state latestValue triggerProgress { label } rule { threshold recoveryThreshold }
      feeds { observations(limit: 60) { value observedAt } } }
    pools { id name capital totalExposure capacityLeft adequacyStatus tranches { tranche totalAssets sharePrice } }
    incidents(limit: 10) { id status settlementValue payoutRatio policiesPaid totalPaid evidenceHash risk { name }
      timeline { state at value } waterfall { pool { name } layer amount } }
  }`);
  document.getElementById('backstop').textContent = `backstop ${money(data.backstop.balance)} USDC, skim ${data.backstop.skimRateBps / 100}%`;
  const risks = document.getElementById('risks');
  risks.replaceChildren(
    ...data.risks.map((r) =>
      el(
        'div',
        { class: 'card', 'data-risk': r.id },
        el('strong', {}, r.name),
        ' ',
        el('span', { class: `state ${r.state}`, 'data-state': r.state }, r.triggerProgress.label),
        el('div', { class: 'muted' }, `latest ${r.latestValue ?? '—'} · threshold ${r.rule.threshold} · recovery ${r.rule.recoveryThreshold}`),
        chart(r.feeds[0]?.observations ?? [], r.rule),
      ),
    ),
  );
  document.querySelector('#pools tbody').replaceChildren(
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
            el('div', {}, `settlement ${i.settlementValue}, ratio ${i.payoutRatio}, ${i.policiesPaid ?? 0} policies paid ${money(i.totalPaid ?? 0)} USDC`),
            el('div', { class: 'muted' }, i.timeline.map((e) => `${e.state} ${new Date(e.at).toISOString().slice(11, 19)} at ${e.value}`).join(' → ')),
            el('div', { class: 'muted' }, i.waterfall.filter((w) => w.amount !== '0').map((w) => `${w.pool.name} ${w.layer} ${money(w.amount)}`).join(' · ')),
            el('code', {}, i.evidenceHash),
          ),
        )),
  );
}

function live() {
  const badge = document.getElementById('live');
  for (const query of ['subscription { riskStateChanged { id } }', 'subscription { incidentUpdated { id } }']) {
    const source = new EventSource(`/graphql?query=${encodeURIComponent(query)}`);
    source.addEventListener('open', () => {
      badge.textContent = 'live';
      badge.classList.add('on');
    });
    source.addEventListener('next', () => void render().catch(console.error));
    source.addEventListener('error', () => badge.classList.remove('on'));
  }
}

render().then(live).catch((e) => {
  document.body.append(el('p', {}, `Could not load: ${e.message}`));
});
