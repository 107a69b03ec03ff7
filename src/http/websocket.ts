import type { IncomingMessage, Server } from 'node:http';
import type { ExecutionArgs } from 'graphql';
import { GraphQLError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { type Viewer, verifySessionToken } from '../app/auth.ts';
import type { Deps } from '../app/deps.ts';
import { bearer } from './bearer.ts';

/** The parts of a yoga server the WebSocket transport drives (its envelop: our plugins run). */
export interface Enveloped {
  graphqlEndpoint: string;
  // biome-ignore lint/suspicious/noExplicitAny: yoga's getEnveloped is typed by its server context
  getEnveloped: (context: any) => any;
}

export interface WebSocketOptions {
  maxPayload: number;
  /** The client's address as the HTTP path sees it (TRUST_PROXY applies). */
  clientIp(request: IncomingMessage): string;
  /** Spends one operation of the address's and the subject's budgets (HTTP's): false past them. */
  allow(ip: string, viewer: Viewer | null): Promise<boolean>;
}

type Extra = {
  request: IncomingMessage;
  token?: string | null;
  ip?: string;
};

const refusal = (message: string, code: string) => [new GraphQLError(message, { extensions: { code } })];

/**
 * GraphQL over WebSocket (the graphql-ws protocol, `graphql-transport-ws`) on the GraphQL
 * endpoint, beside Server-Sent Events: many clients (Apollo, urql, Relay setups) only speak
 * it. The session token comes in the connection's `connectionParams.authorization` ("Bearer
 * <token>"); an invalid one closes the socket with 4403. Every operation is held to what an
 * HTTP request is: the session is verified again (signed out or expired: UNAUTHENTICATED),
 * the address's and the subject's rate limits are spent (RATE_LIMITED), and it runs through
 * the same envelop (limits, NUL refusal, metrics, masking, introspection off in production).
 * Mutations work here as over POST.
 */
export function serveWebSockets(server: Server, yoga: Enveloped, deps: Deps, options: WebSocketOptions): () => Promise<void> {
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload: options.maxPayload });
  const ws = useServer<Record<string, unknown> | undefined, Extra>(
    {
      // Yoga's own execute and subscribe, carried in the root value (the documented recipe).
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args: ExecutionArgs) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onConnect: async (ctx) => {
        ctx.extra.ip = options.clientIp(ctx.extra.request);
        const header = ctx.connectionParams?.authorization;
        const token = typeof header === 'string' ? bearer(header) : null;
        ctx.extra.token = token;
        if (token === null) return true;
        // A bad token refuses the connection (4403); each operation verifies it again.
        return verifySessionToken(deps, token).then(
          () => true,
          () => false,
        );
      },
      onSubscribe: async (ctx, _id, payload) => {
        const { request, token } = ctx.extra;
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
        // No `request` in the context: yoga would take the upgrade's GET for the operation's
        // method and refuse mutations; the connection's address and headers are in `req`.
        const req = { auth: { viewer }, ip, headers: request.headers };
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({ req, params: payload });
        let document: ExecutionArgs['document'];
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError('the document does not parse')];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        return {
          schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        } as ExecutionArgs;
      },
    },
    wss,
  );
  return async () => {
    for (const client of wss.clients) client.close(1001, 'server shutting down');
    // Closes the WebSocket server too; it reports an error when the HTTP server closed first,
    // which at shutdown is no fault.
    await Promise.resolve(ws.dispose()).catch(() => undefined);
  };
}
