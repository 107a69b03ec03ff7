import { randomBytes } from 'node:crypto';
import type express from 'express';
import type { ExecutionResult, GraphQLError } from 'graphql';
import type { Viewer } from '../app/viewer.ts';
import type { Deps } from '../app/deps.ts';
import type { SessionWatch } from '../app/session-watch.ts';
import { refused } from './errors.ts';
import { clientKey } from './guards.ts';
import { type Enveloped, type OperationParams, type Prepared, prepareOperation, publicErrors } from './operations.ts';

/** The header (or `token` search parameter) that names a reserved stream, as the graphql-sse protocol says. */
export const TOKEN_HEADER = 'x-graphql-event-stream-token';

export interface EventStreamLimits {
  /** Reserved or open streams per client address (an IPv4 address, an IPv6 /64). */
  perClient: number;
  /** Reserved or open streams on this replica. */
  total: number;
  /** A reservation not connected within this is dropped, with its operations and their slots. */
  reserveTtlMs: number;
  /** Results one stream may hold unsent (not yet connected, or a reader that lags); past it the stream is closed. */
  bufferBytes: number;
  /** Results all unconnected streams may hold together; past it the stream that overflows is closed. */
  totalBufferBytes: number;
  /** Operations running at once on one stream. */
  operationsPerStream: number;
}

export const DEFAULT_STREAM_LIMITS: EventStreamLimits = {
  perClient: 20,
  total: 1_000,
  reserveTtlMs: 10_000,
  bufferBytes: 4 * 1024 * 1024,
  totalBufferBytes: 64 * 1024 * 1024,
  operationsPerStream: 100,
};

const PING_MS = 12_000;

interface Authed {
  auth?: { viewer: Viewer | null; authError?: unknown };
}

interface Operation {
  stop(): void;
  subscription?: boolean;
}

interface Stream {
  token: string;
  /** Who reserved it: every later request on it must be the same signed-in address (or anonymous). */
  subject: string | null;
  client: string;
  res: express.Response | null;
  pending: string[];
  pendingBytes: number;
  ops: Map<string, Operation>;
  timer: ReturnType<typeof setTimeout> | ReturnType<typeof setInterval> | undefined;
  unwatch: () => void;
  closed: boolean;
  /** Why the session that reserved it ended: no new operations, and closed once the running ones have answered. */
  ended?: string;
}

const message = (event: 'next' | 'complete', data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** An execution result as the stream carries it: errors without transport detail. */
function payload(result: ExecutionResult): unknown {
  return result.errors ? { ...result, errors: publicErrors(result.errors as GraphQLError[]) } : result;
}

const isAsyncIterable = (x: unknown): x is AsyncIterable<ExecutionResult> =>
  typeof x === 'object' && x !== null && Symbol.asyncIterator in x;

function paramsOf(req: express.Request): OperationParams | string {
  if (req.method === 'GET') {
    const q = req.query;
    try {
      return {
        query: q.query,
        operationName: q.operationName,
        variables: typeof q.variables === 'string' ? JSON.parse(q.variables) : undefined,
        extensions: typeof q.extensions === 'string' ? JSON.parse(q.extensions) : undefined,
      };
    } catch {
      return 'variables and extensions must be JSON objects';
    }
  }
  const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'the body must be a JSON object';
    return parsed as OperationParams;
  } catch {
    return 'the body must be JSON: {"query": "...", "variables": {...}}';
  }
}

/**
 * GraphQL over Server-Sent Events at /graphql/stream (the graphql-sse protocol), both modes:
 * distinct connections (Accept: text/event-stream, no token: one stream per operation) and the
 * single connection (PUT reserves a stream, a request with its token and Accept:
 * text/event-stream connects it, POSTs with the token run operations into it, DELETE stops one).
 *
 * Held to what HTTP promises: the router in front of it reads the body with the same limits,
 * spends the same rate limits and verifies the bearer token (an invalid one is a 401 with a
 * GraphQL error, never a stack); each operation is prepared as the other transports prepare it
 * (NUL refusal, validation rules, cost, context). Reservation tokens are 256 bits from the CSPRNG,
 * bound to who reserved them: another account (or an anonymous request for an account's stream)
 * finds no stream. Reservations expire unless connected within `reserveTtlMs`; unsent results are
 * bounded per stream and in total; streams are counted per client address and per replica, and
 * subscriptions in them hold the same slots as anywhere else. A stream whose session ends is closed.
 */
export function eventStreams(
  yoga: Enveloped,
  deps: Deps,
  sessions: SessionWatch,
  limits: EventStreamLimits = DEFAULT_STREAM_LIMITS,
): { handler: express.RequestHandler; close(): void } {
  const streams = new Map<string, Stream>();
  const perClient = new Map<string, number>();
  let unsent = 0;

  function dispose(stream: Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    clearTimeout(stream.timer as ReturnType<typeof setTimeout>);
    clearInterval(stream.timer as ReturnType<typeof setInterval>);
    stream.unwatch();
    for (const op of stream.ops.values()) op.stop();
    stream.ops.clear();
    unsent -= stream.pendingBytes;
    stream.pending = [];
    stream.pendingBytes = 0;
    streams.delete(stream.token);
    const left = (perClient.get(stream.client) ?? 1) - 1;
    if (left > 0) perClient.set(stream.client, left);
    else perClient.delete(stream.client);
    if (stream.res && !stream.res.writableEnded) stream.res.end();
  }

  function closeIfEnded(stream: Stream): void {
    if (stream.ended && stream.ops.size === 0) setImmediate(() => dispose(stream));
  }

  function send(stream: Stream, text: string): void {
    if (stream.closed) return;
    if (stream.res) {
      stream.res.write(text);
      // A reader that does not keep up loses its stream rather than the server its memory.
      if (stream.res.writableLength > limits.bufferBytes) dispose(stream);
      return;
    }
    const bytes = Buffer.byteLength(text);
    if (stream.pendingBytes + bytes > limits.bufferBytes || unsent + bytes > limits.totalBufferBytes) {
      deps.log.warn({ client: stream.client, bytes: stream.pendingBytes + bytes }, 'an unconnected event stream held too much: closed');
      dispose(stream);
      return;
    }
    stream.pending.push(text);
    stream.pendingBytes += bytes;
    unsent += bytes;
  }

  /** Runs a prepared operation, sending its results as `next` messages (with `id` in single-connection mode) and a `complete`. */
  function run(prepared: Extract<Prepared, { ok: true }>, out: (text: string) => void, id: string | null, done: () => void): Operation {
    let stopped = false;
    let iterator: AsyncIterator<ExecutionResult> | undefined;
    const wrap = (result: ExecutionResult) => (id === null ? payload(result) : { id, payload: payload(result) });
    const op: Operation = {
      stop() {
        if (stopped) return;
        stopped = true;
        void iterator?.return?.();
      },
    };
    void (async () => {
      try {
        const result = await (prepared.kind === 'subscription' ? prepared.subscribe : prepared.execute)(prepared.args);
        if (isAsyncIterable(result)) {
          iterator = result[Symbol.asyncIterator]();
          if (stopped) await iterator.return?.();
          while (!stopped) {
            const next = await iterator.next();
            if (next.done || stopped) break;
            out(message('next', wrap(next.value)));
          }
        } else if (!stopped) {
          out(message('next', wrap(result)));
        }
      } catch (err) {
        deps.log.error({ err }, 'an operation on an event stream failed');
        if (!stopped)
          out(message('next', wrap({ errors: [{ message: 'unexpected error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] } as never)));
      }
      if (!stopped) out(message('complete', id === null ? null : { id }));
      stopped = true;
      done();
    })();
    return op;
  }

  const openHeaders = (res: express.Response) => {
    res.status(200).set({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    // Some browsers wait for a first message before they report the stream open.
    res.write(':\n\n');
  };

  async function distinct(req: express.Request, res: express.Response, viewer: Viewer | null): Promise<void> {
    const params = paramsOf(req);
    if (typeof params === 'string') return refused(res, 'BAD_USER_INPUT', params);
    const prepared = await prepareOperation(yoga, { viewer, ip: req.ip ?? 'unknown', headers: req.headers }, params);
    if (prepared.ok && prepared.kind === 'mutation' && req.method === 'GET')
      return refused(res, 'BAD_USER_INPUT', 'mutations need POST', 405);
    openHeaders(res);
    if (!prepared.ok) {
      res.end(message('next', { errors: publicErrors(prepared.errors) }) + message('complete', null));
      return;
    }
    let unwatch: () => void = () => undefined;
    const op = run(
      prepared,
      (text) => {
        if (!res.writableEnded) res.write(text);
        if (res.writableLength > limits.bufferBytes) op.stop();
      },
      null,
      () => {
        unwatch();
        if (!res.writableEnded) res.end();
      },
    );
    // A subscription ends with its session; a query or mutation (a signOut's own) answers first.
    if (prepared.kind === 'subscription') unwatch = sessions.watch(viewer, () => op.stop());
    res.on('close', () => {
      unwatch();
      op.stop();
    });
  }

  function reserve(req: express.Request, res: express.Response, viewer: Viewer | null): void {
    const client = clientKey(req.ip);
    if (streams.size >= limits.total || (perClient.get(client) ?? 0) >= limits.perClient) {
      const which = streams.size >= limits.total ? `${limits.total} on this server` : `${limits.perClient} per client address`;
      refused(res, 'RATE_LIMITED', `too many event streams (at most ${which}); close one first`);
      return;
    }
    const token = randomBytes(32).toString('base64url');
    const stream: Stream = {
      token,
      subject: viewer?.address ?? null,
      client,
      res: null,
      pending: [],
      pendingBytes: 0,
      ops: new Map(),
      timer: undefined,
      unwatch: () => undefined,
      closed: false,
    };
    streams.set(token, stream);
    perClient.set(client, (perClient.get(client) ?? 0) + 1);
    stream.timer = setTimeout(() => dispose(stream), limits.reserveTtlMs);
    stream.unwatch = sessions.watch(viewer, (why) => {
      stream.ended = why;
      // Subscriptions end with an error; a query or mutation under way (a signOut's own) answers first.
      for (const [id, op] of stream.ops) {
        if (!op.subscription) continue;
        op.stop();
        stream.ops.delete(id);
        const ended = { id, payload: { errors: [{ message: why, extensions: { code: 'UNAUTHENTICATED' } }] } };
        send(stream, message('next', ended) + message('complete', { id }));
      }
      closeIfEnded(stream);
    });
    res.status(201).type('text/plain').send(token);
  }

  function connect(res: express.Response, stream: Stream): void {
    if (stream.res) {
      refused(res, 'CONFLICT', 'the stream is already open');
      return;
    }
    clearTimeout(stream.timer as ReturnType<typeof setTimeout>);
    stream.res = res;
    openHeaders(res);
    for (const text of stream.pending) res.write(text);
    unsent -= stream.pendingBytes;
    stream.pending = [];
    stream.pendingBytes = 0;
    stream.timer = setInterval(() => send(stream, ':\n\n'), PING_MS);
    res.on('close', () => dispose(stream));
  }

  async function operate(req: express.Request, res: express.Response, stream: Stream, viewer: Viewer | null): Promise<void> {
    const params = paramsOf(req);
    if (typeof params === 'string') return refused(res, 'BAD_USER_INPUT', params);
    const id = (params.extensions as { operationId?: unknown } | undefined)?.operationId;
    if (typeof id !== 'string' || id === '' || id.length > 128)
      return refused(res, 'BAD_USER_INPUT', 'extensions.operationId must name the operation (1 to 128 characters)');
    if (stream.ops.has(id)) return refused(res, 'CONFLICT', 'an operation with this id is running on the stream');
    if (stream.ops.size >= limits.operationsPerStream)
      return refused(res, 'RATE_LIMITED', `at most ${limits.operationsPerStream} operations at once on one stream`);
    // Held while it is prepared, so that a DELETE, a second request with the id, or the stream's end meanwhile is seen.
    let stopped = false;
    const placeholder: Operation = { stop: () => (stopped = true) };
    stream.ops.set(id, placeholder);
    const prepared = await prepareOperation(yoga, { viewer, ip: req.ip ?? 'unknown', headers: req.headers }, params);
    if (stream.ops.get(id) === placeholder) stream.ops.delete(id);
    if (!prepared.ok) {
      const status = prepared.errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED') ? 401 : 400;
      res.status(status).json({ errors: publicErrors(prepared.errors) });
      return;
    }
    if (stopped || stream.closed) {
      res.status(204).end();
      return;
    }
    if (stream.ended) {
      refused(res, 'UNAUTHENTICATED', stream.ended);
      return;
    }
    if (prepared.kind === 'mutation' && req.method === 'GET') {
      stream.ops.delete(id);
      return refused(res, 'BAD_USER_INPUT', 'mutations need POST', 405);
    }
    const op = run(
      prepared,
      (text) => send(stream, text),
      id,
      () => {
        if (stream.ops.get(id) === op) stream.ops.delete(id);
        closeIfEnded(stream);
      },
    );
    op.subscription = prepared.kind === 'subscription';
    stream.ops.set(id, op);
    res.status(202).end();
  }

  const handler: express.RequestHandler = (req, res, next) => {
    const auth = (req as express.Request & Authed).auth;
    if (auth?.authError) {
      const why = auth.authError instanceof Error ? auth.authError.message : 'the session token is invalid';
      return refused(res, 'UNAUTHENTICATED', why);
    }
    const viewer = auth?.viewer ?? null;
    const header = req.headers[TOKEN_HEADER];
    const token = typeof header === 'string' ? header : typeof req.query.token === 'string' ? req.query.token : null;
    const accept = req.headers.accept ?? '*/*';
    if (accept.includes('text/event-stream') && token === null) {
      distinct(req, res, viewer).catch(next);
      return;
    }
    if (req.method === 'PUT') return reserve(req, res, viewer);
    if (token === null)
      return refused(
        res,
        'NOT_FOUND',
        'no stream: PUT to reserve one (its token in X-GraphQL-Event-Stream-Token), or ask with Accept: text/event-stream',
      );
    // Someone else's stream, or one that expired, is not found: a token proves nothing to a stranger.
    const stream = streams.get(token);
    if (!stream || stream.subject !== (viewer?.address ?? null))
      return refused(res, 'NOT_FOUND', 'stream not found (it expired or was closed): reserve another');
    if (accept.includes('text/event-stream')) return connect(res, stream);
    if (req.method === 'DELETE') {
      const id = req.query.operationId;
      if (typeof id !== 'string' || id === '') return refused(res, 'BAD_USER_INPUT', 'operationId is missing');
      stream.ops.get(id)?.stop();
      stream.ops.delete(id);
      res.status(200).end();
      return;
    }
    if (req.method !== 'POST' && req.method !== 'GET') {
      res.set('allow', 'GET, POST, PUT, DELETE');
      return refused(res, 'BAD_USER_INPUT', 'use GET, POST, PUT or DELETE', 405);
    }
    operate(req, res, stream, viewer).catch(next);
  };

  return {
    handler,
    close() {
      for (const stream of [...streams.values()]) dispose(stream);
    },
  };
}
