/**
 * A bounded cache of a pure function's results by a string key: the same inputs give the
 * same value, so a quote's repeated decimal arithmetic (the same rule, the same price) is
 * done once. Cleared whole when full: what it holds is cheap to work out again.
 */
export function memoByKey<V>(limit = 10_000): (key: string, compute: () => V) => V {
  const values = new Map<string, V>();
  return (key, compute) => {
    let v = values.get(key);
    if (v === undefined && !values.has(key)) {
      if (values.size >= limit) values.clear();
      v = compute();
      values.set(key, v);
    }
    return v as V;
  };
}
