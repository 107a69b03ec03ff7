/**
 * What the page knows, shared by its modules: the signed-in session ({ token, address,
 * expiresAt, name? }, kept for this tab only), the server's settlement and demo offers, the
 * market and the account as last rendered, the quote on offer, and how to stop following
 * the account's payouts.
 */
export const state = {
  session: null,
  settlement: { mode: 'LEDGER' },
  serverInfo: { demo: { people: false, faucet: false } },
  market: { risks: [], pools: [] },
  mineData: null,
  quoted: null,
  stopMine: () => {},
  demoPeopleOffered: false,
  /** Renders the market and the account again (set by dashboard.js): after an action, and when a stream says so. */
  refresh: async () => {},
  /** Renders the account again (set by dashboard.js): while money or a policy token moves on chain. */
  refreshMine: async () => {},
};
try {
  state.session = JSON.parse(sessionStorage.getItem('session') ?? 'null');
  if (state.session && Date.parse(state.session.expiresAt) <= Date.now()) state.session = null;
} catch {
  state.session = null;
}

export async function gql(query, variables = {}, token = state.session?.token) {
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
export function subscribe(query, { token, onOpen, onNext, onDown }) {
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
export function nodes(data) {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v && Array.isArray(v.nodes) ? v.nodes : v]));
}
