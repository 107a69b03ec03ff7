import { type DocumentNode, Kind, type OperationDefinitionNode, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { createPrometheus } from './prometheus.ts';
import { currentRequest } from '../app/request-context.ts';

type Prometheus = Pick<ReturnType<typeof createPrometheus>, 'graphqlSeconds' | 'subscriptionsOpen'>;

/**
 * The operation type and its root field, for labels. Only validated documents reach
 * execution, so a root field is one the schema has: the label values are bounded by the
 * schema, never by what clients send (an operation's own name is not used). An operation
 * with several root fields is "multiple".
 */
function describe(document: DocumentNode, operationName: string | null | undefined): { type: string; field: string } {
  const op = getOperationAST(document, operationName);
  if (!op) return { type: 'unknown', field: 'unknown' };
  const fields = op.selectionSet.selections.filter((s) => s.kind === Kind.FIELD);
  const only = fields.length === 1 && op.selectionSet.selections.length === 1 ? fields[0] : undefined;
  return { type: op.operation, field: only ? only.name.value : 'multiple' };
}

/** Per-operation latency and outcome, and open subscriptions, on the app's Prometheus registry. */
export function useOperationMetrics(prometheus: Prometheus): Plugin {
  return {
    onExecute({ args }) {
      const labels = describe(args.document, args.operationName);
      const end = prometheus.graphqlSeconds.startTimer(labels);
      return {
        onExecuteDone({ result }) {
          const failed = 'errors' in result && (result.errors?.length ?? 0) > 0;
          end({ outcome: failed ? 'error' : 'ok' });
        },
      };
    },
    onSubscribe({ args }) {
      const { field } = describe(args.document, args.operationName);
      let open = false;
      const close = () => {
        if (open) prometheus.subscriptionsOpen.dec({ field });
        open = false;
      };
      return {
        onSubscribeResult({ result }) {
          if (!(Symbol.asyncIterator in (result as object))) return;
          open = true;
          prometheus.subscriptionsOpen.inc({ field });
          return { onEnd: close };
        },
        onSubscribeError: close,
      };
    },
  };
}

/**
 * Names the operation in the request's log context (src/app/request-context.ts): "query risks",
 * "mutation purchasePolicy", or "query MyPolicies" when the client names it, so every line the
 * request writes after parsing, and its access line, say what was asked.
 */
export function useOperationInLogs(): Plugin {
  const mark = (document: DocumentNode, operationName: string | null | undefined) => {
    const context = currentRequest();
    const op = context && getOperationAST(document, operationName);
    if (!context || !op) return;
    context.operation = operationLabel(op);
    context.operationNode = op;
  };
  return {
    onExecute({ args }) {
      mark(args.document, args.operationName);
    },
    onSubscribe({ args }) {
      mark(args.document, args.operationName);
    },
  };
}

/**
 * What an operation is called in logs and traces: "query risks", "mutation purchasePolicy"
 * (its root fields, at most five), or "query MyPolicies" when the client names it.
 */
export function operationLabel(op: OperationDefinitionNode): string {
  if (op.name) return `${op.operation} ${op.name.value}`.slice(0, 120);
  const fields = op.selectionSet.selections.filter((s) => s.kind === Kind.FIELD).map((s) => s.name.value);
  return `${op.operation} ${fields.slice(0, 5).join(',')}${fields.length > 5 ? ',...' : ''}`.slice(0, 120);
}
