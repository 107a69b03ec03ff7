import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { type Client as WsClient, createClient as createWsClient } from 'graphql-ws/client';
import { type ApiErrorBody, CoverApiError, RETRYABLE_CODES } from './errors.ts';
import { COMPLETE, type SubscribeOptions, apiError, readEvents } from './sse.ts';

/** How a client reaches the API's subscriptions: its endpoint, its fetch, a WebSocket class, and the session. */
export interface SubscriptionTransport {
  url: string;
  fetch: typeof fetch;
  WebSocket?: unknown;
  /** The session token now (it changes on sign-in and sign-out). */
  token(): string | undefined;
  /** The request headers with the session's authorization. */
  headers(accept: string): Record<string, string>;
}

/** CoverClient.subscribe over `t`: server-sent events, or one graphql-ws client opened on the first WebSocket subscription. */
export function createSubscriber(t: SubscriptionTransport) {
  /** One graphql-ws client per CoverClient, opened on its first WebSocket subscription; it retries nothing (subscribe does). */
  let ws: WsClient | undefined;
  const wsClient = () => {
    ws ??= createWsClient({
      url: t.url.replace(/^http/, 'ws'),
      connectionParams: () => {
        const token = t.token();
        return token ? { authorization: `Bearer ${token}` } : {};
      },
      retryAttempts: 0,
      lazy: true,
      ...(t.WebSocket ? { webSocketImpl: t.WebSocket } : {}),
    });
    return ws;
  };

  /**
   * One stream of a subscription, as results then COMPLETE when the server completed it. A
   * refusal the API answers throws CoverApiError with its code; a stream that cannot be opened
   * or drops throws or ends without COMPLETE.
   */
  function openStream<TResult>(
    document: TypedDocumentNode<TResult, unknown>,
    vars: unknown,
    transport: 'sse' | 'websocket',
    signal: AbortSignal,
  ): AsyncIterable<TResult | typeof COMPLETE> {
    if (transport === 'websocket') {
      const results = wsClient().iterate({ query: print(document), variables: (vars ?? {}) as Record<string, unknown> });
      signal.addEventListener('abort', () => void results.return?.(), { once: true });
      return (async function* () {
        try {
          for await (const result of results) {
            const first = result.errors?.[0];
            if (first) throw apiError(result.errors as ApiErrorBody[]);
            if (result.data) yield result.data as TResult;
          }
          if (!signal.aborted) yield COMPLETE;
        } catch (error) {
          // graphql-ws rejects with the operation's GraphQL errors, or with the socket's close.
          if (Array.isArray(error)) throw apiError(error as ApiErrorBody[]);
          throw error;
        }
      })();
    }
    const opened = t.fetch(t.url, {
      method: 'POST',
      headers: t.headers('text/event-stream'),
      body: JSON.stringify({ query: print(document), variables: vars ?? {} }),
      signal,
    });
    return (async function* () {
      const res = await opened;
      if (!res.ok || !res.body) {
        throw new CoverApiError(
          `HTTP ${res.status} opening the subscription`,
          res.status >= 500 ? 'UNAVAILABLE' : 'INTERNAL_SERVER_ERROR',
          [],
        );
      }
      yield* readEvents<TResult>(res.body);
    })();
  }

  /**
   * A subscription, over server-sent events (the default) or a WebSocket (`transport:
   * 'websocket'`, graphql-ws): an async iterator of results that ends when the server
   * completes the stream, when `signal` aborts, or on `return()` (leaving a for-await loop).
   * The request is sent at once, so nothing is missed between subscribing and iterating.
   *
   * With `reconnect`, a stream that drops (the network, a server restarting or failing over)
   * is opened again after a pause that doubles from `delayMs` (500) to `maxDelayMs` (10 s),
   * with the variables `resume` gives from the last result received (a `since`, say), so a
   * reconnect misses nothing. A refusal the API answers (UNAUTHENTICATED, say) ends the
   * iterator with that CoverApiError (a retryable one, UNAVAILABLE, is reconnected); so does a
   * dropped stream without `reconnect`, as NETWORK_ERROR.
   */
  function subscribe<TResult, TVariables>(
    document: TypedDocumentNode<TResult, TVariables>,
    variables?: TVariables,
    options: SubscribeOptions<TResult, TVariables> = {},
  ): AsyncIterableIterator<TResult> {
    const abort = new AbortController();
    const { signal, reconnect } = options;
    const transport = options.transport ?? 'sse';
    if (signal?.aborted) abort.abort();
    else signal?.addEventListener('abort', () => abort.abort(), { once: true });
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        abort.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            resolve();
          },
          { once: true },
        );
      });
    // The stream opens now, not at the first read: events that happen before the caller starts
    // iterating (a purchase, a push) wait in the stream for it.
    let stream = openStream(document as TypedDocumentNode<TResult, unknown>, variables, transport, abort.signal)[Symbol.asyncIterator]();
    const firstRead = stream.next();
    firstRead.catch(() => undefined);
    const events = (async function* () {
      let last: TResult | undefined;
      let delay = reconnect?.delayMs ?? 500;
      const seen = new Set<string>();
      let pending: Promise<IteratorResult<TResult | typeof COMPLETE>> | undefined = firstRead;
      for (;;) {
        let dropped: CoverApiError;
        try {
          for (;;) {
            const next = pending ?? stream.next();
            pending = undefined;
            const step = await next;
            if (step.done) break;
            const result = step.value;
            if (result === COMPLETE) return;
            const key = reconnect?.key?.(result);
            if (key !== undefined) {
              if (seen.has(key)) continue;
              seen.add(key);
            }
            last = result;
            delay = reconnect?.delayMs ?? 500;
            yield result;
          }
          dropped = new CoverApiError(`the subscription to ${t.url} dropped`, 'NETWORK_ERROR', []);
        } catch (error) {
          if (abort.signal.aborted) return;
          if (error instanceof CoverApiError && !RETRYABLE_CODES.has(error.code)) throw error;
          dropped =
            error instanceof CoverApiError
              ? error
              : new CoverApiError(
                  `the subscription to ${t.url} dropped or could not be opened: ${(error as Error)?.message ?? error}`,
                  'NETWORK_ERROR',
                  [],
                  {
                    cause: error,
                  },
                );
        }
        if (abort.signal.aborted) return;
        if (!reconnect) throw dropped;
        await pause(delay);
        if (abort.signal.aborted) return;
        delay = Math.min(delay * 2, reconnect.maxDelayMs ?? 10_000);
        const vars = reconnect.resume ? reconnect.resume(last, variables) : variables;
        stream = openStream(document as TypedDocumentNode<TResult, unknown>, vars, transport, abort.signal)[Symbol.asyncIterator]();
      }
    })();
    return {
      next: () => events.next(),
      return: async (value?: unknown) => {
        // Ends the loop (which cancels the body) before aborting the request, so nothing is left to reject.
        const closing = events.return(undefined).catch(() => undefined);
        abort.abort();
        await closing;
        return { done: true, value: value as TResult };
      },
      throw: (error?: unknown) => events.throw(error),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  return subscribe;
}
