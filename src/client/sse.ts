import { CoverApiError, type ApiErrorBody, type ErrorCode } from './errors.ts';

type GraphQLBody<T> = { data?: T | null; errors?: ApiErrorBody[] };

/** How a subscription ends or reconnects (CoverClient.subscribe). */
export interface SubscribeOptions<TResult, TVariables> {
  /** Aborting it ends the iterator (done) and closes the stream. */
  signal?: AbortSignal;
  /** Open the stream again when it drops; `resume` gives the variables to reopen it with from the last result. */
  reconnect?: {
    resume?(last: TResult | undefined, first: TVariables | undefined): TVariables | undefined;
    delayMs?: number;
    maxDelayMs?: number;
    /** A result's identity: one seen before a reconnect is not yielded again when the resumed stream replays it. */
    key?(result: TResult): string;
  };
  /** Server-sent events (the default: plain HTTP, through any proxy) or a WebSocket (graphql-ws). */
  transport?: 'sse' | 'websocket';
}

/** The server completed the stream (as opposed to a stream that dropped). */
export const COMPLETE = Symbol('complete');

/** The API's errors as one CoverApiError with the first one's code. */
export const apiError = (errors: ApiErrorBody[]) =>
  new CoverApiError(errors[0]?.message ?? 'error', (errors[0]?.extensions?.code ?? 'INTERNAL_SERVER_ERROR') as ErrorCode, errors);

/** The results of a GraphQL-over-SSE stream (graphql-sse's distinct-connections mode), then COMPLETE if the server completed it. */
export async function* readEvents<TResult>(body: ReadableStream<Uint8Array>): AsyncGenerator<TResult | typeof COMPLETE> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const lines = buffer.slice(0, end).split('\n');
      buffer = buffer.slice(end + 2);
      const event = lines
        .find((l) => l.startsWith('event:'))
        ?.slice(6)
        .trim();
      const data = lines
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trim())
        .join('\n');
      if (event === 'complete') {
        yield COMPLETE;
        return;
      }
      if (event !== 'next' || !data) continue;
      const parsed = JSON.parse(data) as GraphQLBody<TResult>;
      if (parsed.errors?.length) throw apiError(parsed.errors);
      if (parsed.data) yield parsed.data;
    }
  }
}
