import { el } from './dom.js';
import { clock } from './format.js';

/** A card is at most ~400 px wide, and on a phone the screen less its margins. */
export const chartWidth = () => Math.max(220, Math.min(360, document.documentElement.clientWidth - 80));
/** Time on the x axis; one point alone gets a short window around it rather than years. */
export const timeScale = { time: true, range: (_u, min, max) => (min === max ? [min - 300, max + 300] : [min, max]) };
/** The reader's time zone, as the axis names it ("EST", "GMT+1"). */
const zone =
  new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' }).formatToParts(new Date()).find((p) => p.type === 'timeZoneName')?.value ??
  '';
/**
 * Time ticks as a reader wants them, in the reader's zone (named on the axis): the day over
 * more than two days, hours and minutes over more than two hours, else to the second (a replay
 * a second apart would otherwise read "01:18" on every tick).
 */
export const timeAxis = {
  stroke: '#98a2b3',
  label: `time (${zone})`,
  values: (u, ticks) => {
    const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
    const parts =
      span > 2 * 86_400
        ? { month: 'short', day: 'numeric' }
        : span > 2 * 3_600
          ? { hour: '2-digit', minute: '2-digit' }
          : { hour: '2-digit', minute: '2-digit', second: '2-digit' };
    return ticks.map((t) => new Date(t * 1000).toLocaleString(undefined, parts));
  },
};

/**
 * Observed values against the threshold and recovery lines: a uPlot chart (vendored from
 * npm, served at /vendor/uplot) with a time axis, a value axis, a legend and the value under
 * the pointer.
 */
export function chart(observations, rule) {
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
        `One observation so far: ${Number(points[0].value).toLocaleString('en', { maximumSignificantDigits: 6 })} at ${clock(points[0].observedAt)}.`,
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

/** Each position's tranche share price over time (deposits, premium, losses): a small uPlot line. */
export function sharePriceCharts(positions) {
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
