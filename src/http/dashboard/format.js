// Numbers, amounts and times in the words the dashboard shows them: the rule of the SDK's
// formatAmount and formatPercent (src/client/format.ts), in the page's plain JavaScript.

/** Base units as an exact decimal string ("-1234.5"), no floating point. */
function units(v, d) {
  const n = BigInt(typeof v === 'number' ? Math.round(v) : v);
  const abs = n < 0n ? -n : n;
  const scale = 10n ** BigInt(d);
  return `${n < 0n ? '-' : ''}${abs / scale}${d > 0 ? `.${(abs % scale).toString().padStart(d, '0')}` : ''}`;
}

/** An amount in the asset: grouped, at most two decimals, and never "-0". */
export const money = (v, d = 6) => {
  const text = new Intl.NumberFormat('en', { maximumFractionDigits: 2 }).format(units(v, d));
  return /^-0(\.0+)?$/.test(text) ? '0' : text;
};
/** "1 policy", "2 policies". */
export const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

export const short = (hash) => (hash ? `${hash.slice(0, 10)}…${hash.slice(-6)}` : '');

/** A change of money with its sign: "+12.5 USDC", "-3 USDC", and "0 USDC" for nothing (or less than a cent). */
export const signed = (v) => {
  const shown = money(v);
  return `${shown !== '0' && BigInt(v) > 0n ? '+' : ''}${shown} USDC`;
};
export const percent = (d) => (d === null ? '—' : pct(d));

/** A date and time in the reader's own zone, to the minute, with the zone named ("Nov 28, 2026, 9:41 AM EST"). */
export function when(iso) {
  // (dateStyle and timeStyle cannot be combined with timeZoneName: the parts are named instead.)
  return new Date(iso).toLocaleString(undefined, {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: 'numeric',
    minute: '2-digit',
    timeZoneName: 'short',
  });
}

/** A time of day in the reader's own zone, to the second, with the zone named ("9:41:07 AM EST"). */
export function clock(iso) {
  return new Date(iso).toLocaleTimeString(undefined, { timeZoneName: 'short' });
}

/** A ratio as a percentage: at most two decimals, and no "-0%". */
export function pct(ratio) {
  const text = (Number(ratio) * 100).toLocaleString('en', { maximumFractionDigits: 2 });
  return `${/^-0(\.0+)?$/.test(text) ? '0' : text}%`;
}

/**
 * An amount typed by a person ("1,000.50") in base units, exactly (no floating point), or
 * null when it is not a positive amount with at most `decimals` decimals.
 */
export function toBase(text, decimals = 6) {
  const m = /^(\d+)(?:\.(\d*))?$/.exec(String(text).replace(/[,\s_]/g, ''));
  if (!m || (m[2] ?? '').length > decimals) return null;
  const v = BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt((m[2] ?? '').padEnd(decimals, '0') || '0');
  return v > 0n ? v : null;
}

export const word = (v) => v.toString(16).padStart(64, '0');
/** The wallet's address as a 32-byte ABI word. */
export const addressWord = (a) => word(BigInt(a));

/** The API's words with every ISO time in them ("sales reopen at 2026-12-01T01:18:36.794Z") put in the reader's zone. */
export function localTimes(text) {
  return String(text).replace(/\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/g, (iso) => when(iso));
}
