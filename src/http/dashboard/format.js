// Numbers, amounts and times in the words the dashboard shows them.
export const money = (v, d = 6) => {
  const text = (Number(v) / 10 ** d).toLocaleString('en', { maximumFractionDigits: 2 });
  // A loss too small to show at two decimals is 0, not "-0".
  return /^-0(\.0+)?$/.test(text) ? '0' : text;
};
/** "1 policy", "2 policies". */
export const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

export const short = (hash) => (hash ? `${hash.slice(0, 10)}…${hash.slice(-6)}` : '');

export const signed = (v) => `${BigInt(v) > 0n ? '+' : ''}${money(v)} USDC`.replace(/^-0 /, '0 ');
export const percent = (d) => (d === null ? '—' : `${(Number(d) * 100).toFixed(2)}%`);

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
