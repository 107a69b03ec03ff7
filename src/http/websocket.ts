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

/**
 * GraphQL over WebSocket (the graphql-ws protocol, `graphql-transport-ws`) on the GraphQL
 * endpoint, beside Server-Sent Events: many clients (Apollo, urql, Relay setups) only speak
 * it. The session token comes in the connection's `connectionParams.authorization` ("Bearer
 * <token>"), checked once at connection init; an invalid one closes the socket with 4403.
 * Every operation runs through the same envelop as HTTP (limits, metrics, masking).
 */
export function serveWebSockets(server: Server, yoga: Enveloped, deps: Deps, options: { maxPayload: number }): () => Promise<void> {
  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload: options.maxPayload });
  const ws = useServer<Record<string, unknown> | undefined, { request: IncomingMessage; viewer?: Viewer | null }>(
    {
      // Yoga's own execute and subscribe, carried in the root value (the documented recipe).
      execute: (args: ExecutionArgs) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
      subscribe: (args: ExecutionArgs) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
      onConnect: async (ctx) => {
        const header = ctx.connectionParams?.authorization;
        const token = typeof header === 'string' ? bearer(header) : null;
        if (token === null) {
          ctx.extra.viewer = null;
          return true;
        }
        try {
          ctx.extra.viewer = await verifySessionToken(deps, token);
          return true;
        } catch {
          return false;
        }
      },
      onSubscribe: async (ctx, _id, payload) => {
        const request = ctx.extra.request;
        const req = { auth: { viewer: ctx.extra.viewer ?? null }, ip: request.socket.remoteAddress ?? 'unknown', headers: request.headers };
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({ req, request, params: payload });
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
