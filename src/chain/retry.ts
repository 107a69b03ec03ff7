import {
  BaseError,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  HttpRequestError,
  TimeoutError,
  type Transport,
  fallback,
  http,
} from 'viem';

/** A revert or a missing contract will not change by asking again. */
export function isPermanentChainError(error: unknown): boolean {
  if (error instanceof BaseError) {
    return Boolean(error.walk((e) => e instanceof ContractFunctionRevertedError || e instanceof ContractFunctionZeroDataError));
  }
  return false;
}

/** No contract answers at the address (a chain restarted without it, a wrong address). */
export function isMissingContract(error: unknown): boolean {
  return error instanceof BaseError && Boolean(error.walk((e) => e instanceof ContractFunctionZeroDataError));
}

/**
 * Retries transient failures (network, timeouts, rate limits, 5xx) with exponential backoff
 * and jitter; never a revert or a refusal. Chain reads use viem's own transport retries
 * (and `fallback` across URLs); this serves the HTTP JSON feeds.
 */
export async function withRetry<T>(
  run: () => Promise<T>,
  options: { attempts?: number; baseDelayMs?: number; permanent?: (e: unknown) => boolean } = {},
): Promise<T> {
  const attempts = options.attempts ?? 4;
  const base = options.baseDelayMs ?? 250;
  const permanent = options.permanent ?? isPermanentChainError;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= attempts || permanent(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, base * 2 ** (attempt - 1) * (0.5 + Math.random())));
    }
  }
}

/** An RPC URL safe to log: scheme and host only (keys often live in the path or query). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return '<invalid url>';
  }
}

/**
 * Told of each JSON-RPC request that failed at one URL after viem's retries: `transport` when
 * no answer came (refused, timed out, HTTP error), `rpc` when the node answered with an error.
 */
export type RpcErrorHook = (failure: { method: string; kind: 'transport' | 'rpc' }) => void;

let outgoingGuard: (() => void) | undefined;

/**
 * Installs the check every chain request (and every outgoing network call that asks
 * `checkOutgoingCall`) makes before it is sent: app/wire.ts refuses calls made inside a database
 * transaction, which would hold the database for as long as a chain takes to answer.
 */
export function guardOutgoingCalls(guard: () => void): void {
  outgoingGuard = guard;
}

/** Throws when the installed guard refuses a call from here (see guardOutgoingCalls). */
export function checkOutgoingCall(): void {
  outgoingGuard?.();
}

/** One viem transport for a configured chain: several URLs ("a|b") fall back in order. */
export function rpcTransport(
  urls: string,
  options: { retryCount: number; timeout: number; retryDelay?: number; onError?: RpcErrorHook },
): Transport {
  const { onError, ...httpOptions } = options;
  const transports = urls.split('|').map((u) => reportingErrors(http(u, httpOptions), onError));
  return transports.length > 1 ? fallback(transports) : (transports[0] as Transport);
}

function reportingErrors(transport: Transport, onError: RpcErrorHook | undefined): Transport {
  return (params) => {
    const built = transport(params);
    const request: typeof built.request = async (args, requestOptions) => {
      checkOutgoingCall();
      if (!onError) return built.request(args, requestOptions);
      try {
        return await built.request(args, requestOptions);
      } catch (error) {
        const transportFailure = error instanceof HttpRequestError || error instanceof TimeoutError;
        onError({ method: args.method, kind: transportFailure ? 'transport' : 'rpc' });
        throw error;
      }
    };
    return { ...built, request };
  };
}
