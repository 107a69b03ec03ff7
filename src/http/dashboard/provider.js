import { money, pct, percent, signed, when } from './format.js';
import { state, gql } from './api.js';
import { el, act } from './dom.js';

// The capital provider's and the integrator's parts of the page (issue 59): a pool's outlook
// before any deposit (anyone may read it), the webhooks and the statement.

const OUTLOOK = `query($id: ID!) { pool(id: $id) { id name curator curatorFeeBps pendingCuratorFee { feeBps effectiveAt } cooldownSeconds frozen
  risks { risk { id name } exposure cap coverLeft utilisation floorRateBps targetRateBps }
  losses { incidentId layer amount }
  capital yieldSource { source { name vault } targetBps placed liquid }
  outlook { basis premiumRunRate utilisation premiumYield premiumYieldAtFullUse expectedLoss expectedYield baseYield lossesTotal incidents
    atFullUse { premiumYield expectedLossRate expectedYield }
    tranches { tranche assets whoMayDeposit premiumYield expectedLossRate expectedYield lossAt99 lossAt99Share }
    worstCase { lossAt99 expectedShortfall99 paths computedAt scenarios { name kind loss layers { layer amount shareOfLayer } }
      atCaps { exposure lossAt99 expectedShortfall99 lossAt99Share } }
    terms { words } } } }`;

const trancheWords = {
  SENIOR: 'Senior (takes losses last)',
  JUNIOR: 'Junior (takes losses before senior)',
  FIRST_LOSS: "First loss (the curator's own stake)",
};

let outlookAsked = 0;
/**
 * Prices a curator is typing, by pool and risk (`pool/risk`): kept outside the page's elements,
 * so no redraw loses one (the market's events redraw the outlook at any time, for whichever pool
 * is chosen then), and dropped once set.
 */
const typedPrices = new Map();

/** The outlook of the pool chosen: what a provider reads before depositing. */
export async function renderOutlook() {
  const select = document.getElementById('outlook-pool');
  const box = document.getElementById('outlook');
  const chosen = select.value || state.market.pools[0]?.id;
  if (!chosen) {
    box.replaceChildren(el('p', { class: 'muted' }, 'No pool yet.'));
    return;
  }
  const asked = ++outlookAsked;
  const { pool: p } = await gql(OUTLOOK, { id: chosen });
  // Reads can overlap (the view shown, then a pool chosen): only the latest is drawn, so a
  // slower earlier answer never replaces the pool the provider chose.
  if (asked !== outlookAsked) return;
  box.dataset.outlookPool = p.id;
  const o = p.outlook;
  const row = (cells, attrs = {}) => el('tr', attrs, ...cells.map((c) => el('td', {}, c)));
  box.replaceChildren(
    el(
      'p',
      { 'data-outlook-yield': o.expectedYield ?? '' },
      `${p.name}: expected yield ${percent(o.expectedYield)} a year on today's book (premium ${percent(o.premiumYield)} less expected losses ${money(o.expectedLoss)} USDC a year). ` +
        (o.atFullUse
          ? `Sold up to its caps at today's rates: premium ${percent(o.atFullUse.premiumYield)}, expected loss ${percent(o.atFullUse.expectedLossRate)}, expected yield ${percent(o.atFullUse.expectedYield)} a year. `
          : '') +
        `Curator's fee ${p.curatorFeeBps / 100}% of premium` +
        (p.pendingCuratorFee ? ` (${p.pendingCuratorFee.feeBps / 100}% from ${when(p.pendingCuratorFee.effectiveAt)})` : '') +
        '.',
    ),
    el(
      'div',
      { class: 'table-scroll' },
      el(
        'table',
        { id: 'outlook-tranches' },
        el(
          'thead',
          {},
          el(
            'tr',
            {},
            ...[
              'Tranche',
              'Who may deposit',
              'Capital (USDC)',
              'Premium a year',
              'Expected loss a year',
              'Expected yield',
              'Loss in the 99% year',
            ].map((h) => el('th', {}, h)),
          ),
        ),
        el(
          'tbody',
          {},
          ...o.tranches.map((t) =>
            row(
              [
                trancheWords[t.tranche] ?? t.tranche,
                t.whoMayDeposit,
                money(t.assets),
                percent(t.premiumYield),
                percent(t.expectedLossRate),
                percent(t.expectedYield),
                `${money(t.lossAt99)} USDC (${percent(t.lossAt99Share)} of it)`,
              ],
              { 'data-outlook-tranche': t.tranche },
            ),
          ),
        ),
      ),
    ),
    el(
      'dl',
      {},
      el('dt', {}, 'Risks backed (what it can still write)'),
      el(
        'dd',
        { 'data-outlook-risks': '' },
        p.risks
          .map(
            (r) =>
              `${r.risk.name}: ${money(r.exposure)} USDC of exposure under a ${money(r.cap)} USDC cap; room for ${money(r.coverLeft)} USDC of cover`,
          )
          .join(' · ') || 'none',
      ),
      // What the pool asks for each risk: its curator's price, or the model's (the floor).
      el('dt', {}, 'Its price (before utilisation)'),
      el('dd', { 'data-outlook-prices': '' }, p.risks.map((r) => `${r.risk.name}: ${priceWords(r)}`).join(' · ') || 'none'),
      ...(state.session?.address?.toLowerCase() === p.curator.toLowerCase()
        ? [el('dt', {}, 'Set its price'), el('dd', {}, ...p.risks.map((r) => priceForm(p, r)))]
        : []),
      el('dt', {}, 'Where its capital earns'),
      el('dd', { 'data-outlook-yield-source': '' }, capitalWords(p, o)),
      el('dt', {}, 'Getting out'),
      el('dd', { 'data-outlook-terms': '' }, `${o.terms.words}${p.frozen ? ' Withdrawals are paused now.' : ''}`),
      el('dt', {}, 'Losses so far'),
      el('dd', { 'data-outlook-losses': '' }, o.incidents === 0 ? 'none' : `${money(o.lossesTotal)} USDC in ${o.incidents} incident(s)`),
      el('dt', {}, 'A bad year'),
      el(
        'dd',
        { 'data-outlook-worst': '' },
        `on today's book, one year in a hundred loses ${money(o.worstCase.lossAt99)} USDC or more; the worst 1% average ${money(o.worstCase.expectedShortfall99)} USDC` +
          (o.worstCase.atCaps
            ? `. Sold up to its caps (${money(o.worstCase.atCaps.exposure)} USDC of exposure), one year in a hundred loses ${money(o.worstCase.atCaps.lossAt99)} USDC or more (${percent(o.worstCase.atCaps.lossAt99Share)} of its capital); the worst 1% average ${money(o.worstCase.atCaps.expectedShortfall99)} USDC`
            : ''),
      ),
    ),
    el('p', {}, 'Named scenarios, through the tranches (first loss first):'),
    el(
      'ul',
      { class: 'scenarios', 'data-outlook-scenarios': '' },
      ...o.worstCase.scenarios.map((s) =>
        el(
          'li',
          {},
          `${s.name}: ${money(s.loss)} USDC` +
            (BigInt(s.loss) === 0n
              ? ''
              : ` (${s.layers
                  .filter((l) => l.amount !== '0')
                  .map((l) => `${l.layer} ${money(l.amount)}`)
                  .join(', ')})`),
        ),
      ),
    ),
    el('details', {}, el('summary', {}, 'How these figures are worked out'), el('p', {}, o.basis)),
  );
}

/**
 * Where a pool's capital sits and what it earns there (issue 68): in a yield source's vault and
 * in the treasury, with the base yield the vault realised; idle without a source; none on the
 * ledger alone.
 */
function capitalWords(p, o) {
  if (state.settlement.mode !== 'CHAIN')
    return 'Its capital earns no yield here: money is kept on the ledger alone, and a yield source needs money on chain.';
  const y = p.yieldSource;
  if (!y) return `All ${money(p.capital)} USDC idle in the treasury: the curator names no yield source, so the capital earns premium only.`;
  return (
    `${money(y.placed)} USDC placed in ${y.source ? `${y.source.name} (vault ${y.source.vault})` : 'a vault being left'}, ` +
    `target ${pct(y.targetBps / 10_000)} of capital; ${money(y.liquid)} USDC liquid in the treasury, against a loss of ${money(o.worstCase.lossAt99)} USDC in the 99% year (a payout larger than the liquid part redeems first). ` +
    `Base yield ${percent(o.baseYield)} a year, as the vault's share price paid it over the last 30 days, on top of the premium; ` +
    'a loss of the vault marks the tranches down first loss first (see its scenario below).'
  );
}

/** A pool's price for a risk in words: the curator's asked rate, or the model's, with the floor. */
function priceWords(r) {
  const floor = pct(r.floorRateBps / 10_000);
  return r.targetRateBps === null
    ? `the model's price, ${floor} a year at 30 days`
    : `asks ${pct(r.targetRateBps / 10_000)} a year (the model's floor: ${floor})`;
}

/**
 * The curator's price form for one risk: a percent a year, at least the floor; empty returns to
 * the model's price. What the curator is typing lives in `typedPrices`, not in the input.
 */
function priceForm(p, r) {
  const key = `${p.id}/${r.risk.id}`;
  const input = el('input', {
    inputmode: 'decimal',
    'aria-label': `Price of ${r.risk.name}, percent a year`,
    'data-price-risk': r.risk.id,
    placeholder: `${(r.floorRateBps / 100).toString()} or more`,
    value: typedPrices.get(key) ?? (r.targetRateBps === null ? '' : String(r.targetRateBps / 100)),
  });
  input.addEventListener('input', () => typedPrices.set(key, input.value));
  const button = el('button', { type: 'button', 'data-price-set': r.risk.id }, `Set ${r.risk.name}'s price`);
  button.addEventListener('click', () =>
    act(
      'outlook-result',
      async () => {
        const typed = (typedPrices.get(key) ?? input.value).trim();
        if (typed !== '' && !/^\d+(\.\d{1,2})?$/.test(typed)) throw new Error('the price is a percent a year, e.g. 4.5');
        const bps = typed === '' ? null : Math.round(Number(typed) * 100);
        const { setPoolRiskPrice: s } = await gql(
          'mutation($p: ID!, $r: ID!, $t: Int) { setPoolRiskPrice(poolId: $p, riskId: $r, targetRateBps: $t) { targetRateBps floorRateBps } }',
          { p: p.id, r: r.risk.id, t: bps },
        );
        typedPrices.delete(key);
        await renderOutlook();
        return s.targetRateBps === null
          ? `${p.name} now sells ${r.risk.name} cover at the model's price.`
          : `${p.name} now asks ${pct(s.targetRateBps / 10_000)} a year for ${r.risk.name} cover (its floor: ${pct(s.floorRateBps / 10_000)}).`;
      },
      button,
    ),
  );
  return el('span', { class: 'price-form' }, input, ' ', button, ' ');
}

/** What a signed-in provider's position would lose in each scenario, for its row. */
export function whatIfText(p) {
  return p.whatIf.map((s) => `${s.scenario.name}: ${signed(-BigInt(s.loss))}`).join('; ');
}

export async function registerHook() {
  const url = document.getElementById('hook-url').value.trim();
  const events = [...document.querySelectorAll('#hook-events input:checked')].map((i) => i.value);
  const { registerWebhook: r } = await gql(
    'mutation($u: String!, $e: [WebhookEvent!]!) { registerWebhook(url: $u, events: $e) { secret endpoint { id url } } }',
    { u: url, e: events },
  );
  return `Registered ${r.endpoint.url}. Its signing secret, shown once: ${r.secret}`;
}

/** The statement as a CSV file, fetched with the session's token. */
export async function downloadStatement() {
  const res = await fetch('/statement.csv', { headers: { authorization: `Bearer ${state.session.token}` } });
  if (!res.ok) throw new Error((await res.json().catch(() => ({}))).errors?.[0]?.message ?? `HTTP ${res.status}`);
  const blob = await res.blob();
  const a = el('a', { href: URL.createObjectURL(blob), download: `statement-${state.session.address}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  return `Statement downloaded (${(await blob.text()).trim().split('\n').length - 1} lines).`;
}

/** The endpoints with their latest deliveries, for the integrator's view. */
/** An endpoint's actions: a test delivery (signed and sent as any event), and deleting it. */
function hookButtons(h) {
  const test = el('button', { type: 'button', 'data-hook-test': h.id }, 'Send a test event');
  test.addEventListener('click', () =>
    act(
      'hook-result',
      async () => {
        await gql('mutation($id: ID!) { testWebhook(id: $id) { id } }', { id: h.id });
        return `Test event queued for ${h.url}: its delivery shows below within seconds.`;
      },
      test,
    ),
  );
  const remove = el('button', { type: 'button', 'data-hook-delete': h.id }, 'Delete endpoint');
  remove.addEventListener('click', () =>
    act(
      'hook-result',
      async () => {
        if (!window.confirm(`Delete the endpoint ${h.url}? Nothing more is sent to it.`)) return 'Endpoint kept.';
        await gql('mutation($id: ID!) { deleteWebhook(id: $id) }', { id: h.id });
        return `Endpoint ${h.url} deleted: nothing more is sent to it.`;
      },
      remove,
    ),
  );
  return el('div', { class: 'actions' }, test, ' ', remove);
}

export function hookRows(hooks) {
  return hooks.map((h) =>
    el(
      'div',
      { class: 'panel', 'data-hook': h.id },
      el('strong', {}, h.url),
      el('div', { class: 'muted' }, `events: ${h.events.join(', ')}`),
      // A disabled endpoint says why, and how to turn it on again; a failing one since when.
      h.disabledAt
        ? el(
            'div',
            { class: 'warning', 'data-hook-disabled': '' },
            `Disabled ${when(h.disabledAt)}: ${h.disabledReason}. Send a test event to turn it on again.`,
          )
        : h.failingSince
          ? el('div', { class: 'warning' }, `Failing since ${when(h.failingSince)}: disabled after a day of failures.`)
          : '',
      hookButtons(h),
      ...(h.deliveries.length === 0
        ? [el('div', { class: 'muted' }, 'No delivery yet.')]
        : h.deliveries.map((d) =>
            el(
              'div',
              { 'data-delivery': d.status },
              `${d.event} ${d.status} after ${d.attempts} attempt(s)${d.lastStatus ? `, last answer HTTP ${d.lastStatus}` : ''}${d.lastError && d.status !== 'DELIVERED' ? ` (${d.lastError})` : ''}${d.nextAttemptAt ? `, next ${when(d.nextAttemptAt)}` : ''}`,
            ),
          )),
    ),
  );
}

/** The role views: #buy, #provide, #integrate (the buyer's by default). */
export function setUpRoles() {
  const show = (changed) => {
    const view = ['buy', 'provide', 'integrate'].includes(location.hash.slice(1)) ? location.hash.slice(1) : 'buy';
    document.body.dataset.view = view;
    for (const a of document.querySelectorAll('#roles a')) {
      if (a.dataset.role === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.getElementById('you-title').textContent = { buy: 'Your cover', provide: 'Your capital', integrate: 'Your integration' }[view];
    if (view === 'provide') void renderOutlook().catch(console.error);
    // Charts drawn while their view was hidden have no width: the account is drawn again in the view shown
    // (on a change of view only: at load, signing in draws it).
    if (changed && state.session) void state.refreshMine().catch(console.error);
  };
  window.addEventListener('hashchange', () => show(true));
  show(false);
  const outlookPool = document.getElementById('outlook-pool');
  outlookPool.addEventListener('change', () => {
    // The deposit form follows the pool being read.
    const deposit = document.getElementById('deposit-pool');
    if ([...deposit.options].some((o) => o.value === outlookPool.value)) {
      deposit.value = outlookPool.value;
      deposit.dispatchEvent(new Event('change'));
    }
    void renderOutlook().catch(console.error);
  });
  document.getElementById('hooks').addEventListener('submit', (e) => {
    e.preventDefault();
    void act('hook-result', registerHook, e.submitter);
  });
  document
    .getElementById('statement-go')
    .addEventListener('click', (e) => void act('statement-result', downloadStatement, e.currentTarget));
}
