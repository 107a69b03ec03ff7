import { isIPv4 } from 'node:net';
import { ipKeyGenerator } from 'express-rate-limit';
import {
  type DocumentNode,
  type ExecutionArgs,
  Kind,
  type ExecutionResult,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  getNamedType,
  isCompositeType,
  isListType,
  getNullableType,
  visit,
} from 'graphql';
import { type ComplexityEstimatorArgs, getComplexity } from 'graphql-query-complexity';
import { Repeater } from '@repeaterjs/repeater';
import type { Plugin } from 'graphql-yoga';
import type { SessionWatch } from '../app/session-watch.ts';
import type { Context } from './context.ts';
import { SUGGESTION, httpStatusOf } from './errors.ts';

/**
 * The envelop plugins every transport runs (HTTP, SSE, /graphql/stream, graphql-ws): they hook
 * validation, execution and subscription, which each transport reaches through yoga's
 * `getEnveloped`. What yoga does only for HTTP requests (its params hook) is also exported as a
 * plain check (`nulBytesError`) the other transports call themselves.
 */

const badInput = (message: string, extensions: Record<string, unknown> = {}) =>
  new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', http: { status: httpStatusOf('BAD_USER_INPUT') }, ...extensions } });

/** The client's key for per-client bounds: an IPv4 address, or an IPv6 address's /64. */
export function clientKey(ip: string | undefined): string {
  return ipKeyGenerator(ip ?? '', 64);
}

/** The network a client key belongs to: an IPv4 /24 or an IPv6 /48 (one person's many addresses). */
export function networkKey(client: string): string {
  if (isIPv4(client)) return `${client.split('.').slice(0, 3).join('.')}.0/24`;
  try {
    return `${ipKeyGenerator(client, 48)}/48`;
  } catch {
    return client;
  }
}

/** A NUL byte cannot be stored in PostgreSQL text: the refusal, or null for a request without one. */
export function nulBytesError(params: { query?: unknown; operationName?: unknown; variables?: unknown }): GraphQLError | null {
  const variables = params.variables == null ? '' : JSON.stringify(params.variables);
  const text = `${typeof params.query === 'string' ? params.query : ''}${typeof params.operationName === 'string' ? params.operationName : ''}`;
  if (text.includes('\u0000') || /\\u0000/i.test(text) || variables.includes('\\u0000'))
    return badInput('strings must not contain NUL characters');
  return null;
}

/** NUL bytes refused in any string of an HTTP request (the document or its variables), as bad input. */
export function useRefuseNulBytes(): Plugin {
  return {
    onParams({ params }) {
      const error = nulBytesError(params);
      if (error) throw error;
    },
  };
}

/** Production hides the schema on every transport: the SDL in schema/ is the published contract. */
export function useNoIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

/**
 * Fields that cost far more than a row read, with how many one operation may ask for
 * (aliases count): beyond that the operation is refused before it runs.
 */
export function useExpensiveFieldBudget(budget: Record<string, number>): Plugin {
  // Yoga's parser cache hands back the same document for the same text: count each once.
  const over = new WeakMap<object, string | null>();
  return {
    onValidate({ params }) {
      let verdict = over.get(params.documentAST);
      if (verdict === undefined) {
        const counts = new Map<string, number>();
        visit(params.documentAST, {
          Field(node) {
            if (node.name.value in budget) counts.set(node.name.value, (counts.get(node.name.value) ?? 0) + 1);
          },
        });
        const name = [...counts].find(([field, n]) => n > (budget[field] as number))?.[0];
        verdict = name === undefined ? null : `an operation may ask for ${name} at most ${budget[name]} time(s)`;
        over.set(params.documentAST, verdict);
      }
      if (verdict !== null) throw badInput(verdict);
    },
  };
}

/**
 * How many rows a field can return: a list asked for with `first` or `limit` returns that many
 * times what each element holds; any other object or list, one plus what it holds; a scalar,
 * nothing. A connection's `first` multiplies its `nodes`.
 */
function rowEstimator({ field, args, childComplexity }: ComplexityEstimatorArgs): number {
  const size = typeof args.first === 'number' ? args.first : typeof args.limit === 'number' ? args.limit : null;
  if (size !== null) return Math.max(1, size) * Math.max(1, childComplexity);
  const type = getNullableType(field.type);
  if (isListType(type) || isCompositeType(getNamedType(type))) return 1 + childComplexity;
  return 0;
}

/**
 * A request's rows are bounded before it runs: the product of the `first` and `limit` arguments
 * down each path, summed over the document (aliases count), at most `maxRows`. Past it the
 * operation is refused with the count, not clipped. Runs at execution, where the variables are known.
 */
export function useRowBudget(maxRows: number): Plugin {
  const check = (args: ExecutionArgs): GraphQLError | null => {
    let rows: number;
    try {
      rows = getComplexity({
        schema: args.schema,
        query: args.document,
        variables: (args.variableValues ?? {}) as Record<string, unknown>,
        ...(args.operationName ? { operationName: args.operationName } : {}),
        estimators: [rowEstimator],
      });
    } catch {
      // Bad arguments or variables: execution reports them in its own words.
      return null;
    }
    if (rows <= maxRows) return null;
    return badInput(
      `the operation may return up to ${rows} rows, more than the ${maxRows} one request may: ask for fewer (first, limit) or split it`,
      { maximum: maxRows, rows },
    );
  };
  // A document whose count no variable can change (none in a `first` or `limit`, nor in a
  // directive such as @include) counts the same every time: one found within the budget is not
  // counted again (yoga's parser cache hands back the same document for the same text).
  const constantCount = new WeakMap<DocumentNode, boolean>();
  const isConstant = (document: DocumentNode): boolean => {
    let constant = constantCount.get(document);
    if (constant === undefined) {
      constant = true;
      visit(document, {
        Variable(_node, _key, parent, _path, ancestors) {
          // `ancestors` stops short of the parent: an argument is the parent of its variable.
          const inCount = [...ancestors, parent ?? []].some(
            (a) =>
              'kind' in a &&
              (a.kind === Kind.DIRECTIVE || (a.kind === Kind.ARGUMENT && (a.name.value === 'first' || a.name.value === 'limit'))),
          );
          if (inCount) constant = false;
        },
      });
      constantCount.set(document, constant);
    }
    return constant;
  };
  const within = new WeakMap<DocumentNode, Set<string>>();
  const checked = (args: ExecutionArgs): GraphQLError | null => {
    const constant = isConstant(args.document);
    const name = args.operationName ?? '';
    if (constant && within.get(args.document)?.has(name)) return null;
    const error = check(args);
    if (constant && error === null) {
      let names = within.get(args.document);
      if (!names) within.set(args.document, (names = new Set()));
      names.add(name);
    }
    return error;
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = checked(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = checked(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}

export interface SubscriptionLimits {
  /** Per client address (an IPv4 address, an IPv6 /64). */
  perClient: number;
  /** Per signed-in subject, whatever address it comes from. */
  perSubject?: number;
  /** Per network (an IPv4 /24, an IPv6 /48): many addresses of one holder. */
  perNetwork?: number;
  /** On this replica. */
  total: number;
}

/**
 * Subscriptions hold a stream open, on whichever transport: a client address may keep
 * `perClient` open, a signed-in subject `perSubject`, a network `perNetwork`, the replica
 * `total`; one more is refused (RATE_LIMITED) until one closes. A network's share defaults to a
 * quarter of the total, so that one holder of many neighbouring addresses cannot take every slot.
 */
export function useSubscriptionLimits(limits: SubscriptionLimits): Plugin {
  const perSubject = limits.perSubject ?? limits.perClient;
  const perNetwork = limits.perNetwork ?? Math.max(limits.perClient, Math.floor(limits.total / 4));
  const open = new Map<string, number>();
  let total = 0;
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const context = args.contextValue as unknown as Context;
      const client = clientKey(context.client);
      const keys: Array<[string, number, string]> = [
        [`client:${client}`, limits.perClient, `${limits.perClient} per client address`],
        [`network:${networkKey(client)}`, perNetwork, `${perNetwork} per network`],
      ];
      if (context.viewer) keys.push([`subject:${context.viewer.address}`, perSubject, `${perSubject} per account`]);
      const full = total >= limits.total ? `${limits.total} on this server` : keys.find(([k, max]) => (open.get(k) ?? 0) >= max)?.[2];
      if (full) {
        setResultAndStopExecution({
          errors: [
            new GraphQLError(`too many open subscriptions (at most ${full}); close one first`, { extensions: { code: 'RATE_LIMITED' } }),
          ],
        });
        return;
      }
      for (const [k] of keys) open.set(k, (open.get(k) ?? 0) + 1);
      total++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        total--;
        for (const [k] of keys) {
          const left = (open.get(k) ?? 1) - 1;
          if (left > 0) open.set(k, left);
          else open.delete(k);
        }
      };
      return {
        onSubscribeResult({ result }) {
          if (!(Symbol.asyncIterator in (result as object))) {
            release();
            return;
          }
          return { onEnd: release };
        },
        onSubscribeError: release,
      };
    },
  };
}

/** graphql-js names schema members in validation errors ("Did you mean SENIOR?"): not in production. */
export function useNoSuggestions(): Plugin {
  return {
    onValidate() {
      return ({ result, setResult }) => {
        if (result.some((e) => SUGGESTION.test(e.message))) {
          setResult(
            result.map((e) =>
              SUGGESTION.test(e.message)
                ? new GraphQLError(e.message.replace(SUGGESTION, ''), { nodes: e.nodes, extensions: e.extensions })
                : e,
            ),
          );
        }
      };
    },
  };
}

/**
 * A subscription lives no longer than the session it was opened with, on every transport: when
 * the session expires or is signed out (on any replica), the subscriber gets one UNAUTHENTICATED
 * error and the stream ends (graphql-ws also closes the socket, with 4401).
 */
export function useSessionBoundSubscriptions(sessions: SessionWatch): Plugin {
  return {
    onSubscribe({ args }) {
      const viewer = (args.contextValue as unknown as Context).viewer;
      if (!viewer?.session) return;
      return {
        onSubscribeResult({ result, setResult }) {
          if (!(Symbol.asyncIterator in (result as object))) return;
          const source = result as AsyncIterable<ExecutionResult>;
          setResult(
            new Repeater<ExecutionResult>(async (push, stop) => {
              const unwatch = sessions.watch(viewer, (why) => {
                void push({ errors: [new GraphQLError(why, { extensions: { code: 'UNAUTHENTICATED' } })] }).then(() => stop());
              });
              const it = source[Symbol.asyncIterator]();
              void stop.then(() => it.return?.());
              try {
                for (;;) {
                  const next = await Promise.race([it.next(), stop.then(() => null)]);
                  if (!next || next.done) break;
                  await push(next.value);
                }
              } finally {
                unwatch();
                stop();
              }
            }),
          );
        },
      };
    },
  };
}
