import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { GraphQLError } from 'graphql';
import type { ServerOptions, SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Viewer } from '../app/viewer.ts';
import { verifySessionToken } from '../app/sessions.ts';
import type { Deps } from '../app/deps.ts';
import type { SessionWatch } from '../app/session-watch.ts';
import { context as otel, type Context } from '@opentelemetry/api';
import { type RequestContext, runInRequest } from '../app/request-context.ts';
import { startSocketSpan } from './tracing.ts';
import { bearer } from './bearer.ts';
import { type Enveloped, type Run, prepareOperation } from './operations.ts';

/** The close code of a socket whose session ended (expired, signed out): graphql-ws's Unauthorized, which clients do not retry. */
export const SESSION_ENDED_CLOSE_CODE = 4401;

export interface WebSocketOptions {
  maxPayload: number;
  /** The client's address as the HTTP path sees it (TRUST_PROXY applies). */
  clientIp(request: IncomingMessage): string;
  /** Spends one operation of the address's and the subject's budgets (HTTP's): false past them. */
  allow(ip: string, viewer: Viewer | null): Promise<boolean>;
  sessions: SessionWatch;
}

type Extra = {
  request: IncomingMessage;
  socket: WebSocket;
  token?: string | null;
  ip?: string;
  unwatch?: () => void;
  /** Queries and mutations under way: a socket whose session ended closes once they have answered. */
  running?: Set<string>;
  /** Why the session ended, once it has. */
  ended?: string;
};

/** Closes the socket of an ended session once no query or mutation on it still owes an answer (a signOut's own, say). */
function closeIfEnded(extra: Extra): void {
  if (extra.ended && !extra.running?.size) setImmediate(() => extra.socket.close(SESSION_ENDED_CLOSE_CODE, extra.ended));
}

/** What an operation's root value carries to graphql-ws's execute and subscribe: yoga's, and the operation's request context. */
interface OperationRoot {
  execute: Run;
  subscribe: Run;
  request: RequestContext;
}

const refusal = (message: string, code: string) => [new GraphQLError(message, { extensions: { code } })];

/**
 * GraphQL over WebSocket (the graphql-ws protocol, `graphql-transport-ws`) on the GraphQL
 * endpoint, beside Server-Sent Events: many clients (Apollo, urql, Relay setups) only speak
 * it. The session token comes in the connection's `connectionParams.authorization` ("Bearer
 * <token>"); an invalid one closes the socket with 4403. A socket whose session ends (expires,
 * or is signed out on any replica) is closed at once with 4401. Every operation is held to what an
 * HTTP request is: the session is verified again (signed out or expired: UNAUTHENTICATED),
 * the address's and the subject's rate limits are spent (RATE_LIMITED), and it runs through
 * the same envelop (limits, NUL refusal, metrics, masking, introspection off in production).
 * Mutations work here as over POST.
 */
export function serveWebSockets(server: Server, yoga: Enveloped, deps: Deps, options: WebSocketOptions): () => Promise<void> {
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload: options.maxPayload });
  // A client that drops its connection can leave the socket's stream destroyed while ws still
  // calls it open; graphql-ws then sends into it, ws throws ERR_STREAM_DESTROYED, and graphql-ws
  // prints the stack to stderr as an "internal error". A message to a gone client is dropped
  // instead. Registered before graphql-ws's own listener, so every socket it sees is wrapped.
  wss.on('connection', (socket) => {
    const send = socket.send.bind(socket);
    socket.send = ((data: unknown, ...rest: unknown[]) => {
      const done = rest.find((r): r is (err?: Error) => void => typeof r === 'function');
      const stream = (socket as unknown as { _socket?: { destroyed?: boolean } })._socket;
      if (stream?.destroyed) return done?.();
      return (send as (...a: unknown[]) => void)(data, ...rest);
    }) as typeof socket.send;
  });
  // Each operation's span, found again when graphql-ws runs it (its statements nest under it).
  const spans = new WeakMap<RequestContext, Context>();
  const ws = useServer<Record<string, unknown> | undefined, Extra>(
    {
      // Yoga's own execute and subscribe, carried in the root value (the documented recipe),
      // in the operation's own request context (its id and trace on every log line, error paths).
      execute: (args: ExecutionArgs) => {
        const root = args.rootValue as OperationRoot;
        return otel.with(spans.get(root.request) ?? otel.active(), () => runInRequest(root.request, () => root.execute(args))) as never;
      },
      subscribe: (args: ExecutionArgs) => {
        const root = args.rootValue as OperationRoot;
        return otel.with(spans.get(root.request) ?? otel.active(), () => runInRequest(root.request, () => root.subscribe(args))) as never;
      },
      onConnect: async (ctx) => {
        ctx.extra.ip = options.clientIp(ctx.extra.request);
        const header = ctx.connectionParams?.authorization;
        const token = typeof header === 'string' ? bearer(header) : null;
        ctx.extra.token = token;
        if (token === null) return true;
        // A bad token refuses the connection (4403); each operation verifies it again.
        const connect = startSocketSpan('graphql-ws connect');
        return otel
          .with(connect.context, () => verifySessionToken(deps, token))
          .then(
            (viewer) => {
              const { extra } = ctx;
              extra.running = new Set();
              extra.unwatch = options.sessions.watch(viewer, (why) => {
                extra.ended = why;
                closeIfEnded(extra);
              });
              return true;
            },
            () => false,
          )
          .finally(() => connect.span.end());
      },
      onClose: (ctx) => ctx.extra.unwatch?.(),
      onComplete: (ctx, id) => {
        if (ctx.extra.running?.delete(id)) closeIfEnded(ctx.extra);
      },
      onSubscribe: (ctx, id, payload) => {
        // Each operation is a request of its own, as each POST is, with a span of its own.
        const traced = startSocketSpan('graphql-ws operation');
        const operation: RequestContext = { requestId: randomUUID(), ...traced.ids };
        spans.set(operation, traced.context);
        return runInRequest(operation, () => otel.with(traced.context, () => prepareOver(ctx, id, payload, operation))).finally(() =>
          traced.span.end(),
        );
      },
    },
    wss,
  );
  /** One operation on a socket: refused (the session, the rate limit, the envelop's rules), or what graphql-ws runs. */
  async function prepareOver(
    ctx: Parameters<NonNullable<ServerOptions<Record<string, unknown> | undefined, Extra>['onSubscribe']>>[0],
    id: string,
    payload: SubscribePayload,
    operation: RequestContext,
  ) {
    const { request, token } = ctx.extra;
    if (ctx.extra.ended) return refusal(ctx.extra.ended, 'UNAUTHENTICATED');
    const ip = ctx.extra.ip ?? 'unknown';
    let viewer: Viewer | null = null;
    if (token) {
      try {
        viewer = await verifySessionToken(deps, token);
      } catch {
        return refusal('the session has ended (signed out or expired): sign in again and reconnect', 'UNAUTHENTICATED');
      }
    }
    if (!(await options.allow(ip, viewer))) return refusal('too many requests; slow down', 'RATE_LIMITED');
    const prepared = await prepareOperation(yoga, { viewer, ip, headers: request.headers }, payload);
    if (!prepared.ok) return prepared.errors;
    if (prepared.kind !== 'subscription') ctx.extra.running?.add(id);
    // graphql-ws runs subscriptions through `subscribe` and the rest through `execute`: yoga's own, in the root value.
    const root: OperationRoot = { execute: prepared.execute, subscribe: prepared.subscribe, request: operation };
    return { ...prepared.args, rootValue: root } as ExecutionArgs;
  }
  return async () => {
    for (const client of wss.clients) client.close(1001, 'server shutting down');
    // Closes the WebSocket server too; it reports an error when the HTTP server closed first,
    // which at shutdown is no fault.
    await Promise.resolve(ws.dispose()).catch(() => undefined);
  };
}
