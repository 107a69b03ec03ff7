import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createSiweMessage } from 'viem/siwe';
import { type Client as WsClient, createClient as createWsClient } from 'graphql-ws/client';
import { pushDomain, pushMessage, pushTypes } from '../domain/push-typed-data.ts';
import { policyTransferTypes, positionTransferTypes } from '../domain/policy-transfer.ts';
import {
  CompleteWithdrawalDocument,
  CancelWithdrawalDocument,
  IssuePositionTokensDocument,
  PoolOutlookDocument,
  StatementDocument,
  TransferPositionDocument,
  RenewPolicyDocument,
  RegisterWebhookDocument,
  WebhooksDocument,
  type WebhookEvent,
  CreatePoolDocument,
  type CreatePoolInput,
  CreateRiskDocument,
  type CreateRiskInput,
  CreditAccountDocument,
  DepositDocument,
  FeedRejectionsDocument,
  IncidentsDocument,
  MeDocument,
  QuoteEstimateDocument,
  RiskDocument,
  SignOutDocument,
  MyPayoutsDocument,
  MyPoliciesDocument,
  MyPositionsDocument,
  MyQuotesDocument,
  PolicyPaidDocument,
  PurchasePolicyDocument,
  TransferPolicyDocument,
  PolicyTransferDomainDocument,
  RegisterPushFeedDocument,
  RequestQuoteDocument,
  RequestWithdrawalDocument,
  RisksDocument,
  CapacityDocument,
  SignInDocument,
  SetRiskFeedsDocument,
  SiweNonceDocument,
  SubmitObservationsDocument,
  type TrancheName,
  SettlementDocument,
  MyChainDepositsDocument,
  MyTransfersDocument,
  WithdrawDocument,
} from './generated/graphql.ts';

export * from './generated/graphql.ts';
export { pushDomain, pushTypes } from '../domain/push-typed-data.ts';
export { policyTransferDomain, policyTransferTypes, positionTransferTypes } from '../domain/policy-transfer.ts';
export type { FieldPath, FieldProblem } from '../domain/errors.ts';
export { type ApiErrorBody, CoverApiError, type ErrorCode, RETRYABLE_CODES } from './errors.ts';
export { type ChainReader, type ChainWriter, depositWithPermit, sendPolicyToken } from './wallets.ts';
export type { SubscribeOptions } from './sse.ts';
import { type ApiErrorBody, CoverApiError, type ErrorCode, RETRYABLE_CODES } from './errors.ts';
import { type ChainReader, type ChainWriter, depositWithPermit, redeemPositionTokens, sendPolicyToken } from './wallets.ts';
import { COMPLETE, type SubscribeOptions, apiError, readEvents } from './sse.ts';

type Hex = `0x${string}`;

/**
 * What signs: a viem account (privateKeyToAccount, or one a wallet or a remote signer holds),
 * or anything with the same three members (the client needs no signing library of its own).
 */
export interface Signer {
  address: Hex;
  /** EIP-191 personal_sign of the Sign-In with Ethereum message. */
  signMessage(args: { message: string }): Promise<Hex>;
  /** EIP-712 typed data (the observations a PUSH feed's reporter signs: pushDomain, pushTypes). */
  // biome-ignore lint/suspicious/noExplicitAny: viem's signTypedData is generic over the typed data it signs
  signTypedData(args: any): Promise<Hex>;
}

export interface CoverClientOptions {
  /** The API's GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  url: string;
  /** A session token from an earlier sign-in. */
  token?: string;
  fetch?: typeof fetch;
  /** The WebSocket class for `transport: 'websocket'` subscriptions (Node 22+ and browsers have one). */
  WebSocket?: unknown;
}

type GraphQLBody<T> = { data?: T | null; errors?: ApiErrorBody[] };

/**
 * A small typed client of the cover API for its three users: buyers (sign in, quote, buy,
 * follow policies and payouts), capital providers (deposit, withdraw) and integrators
 * (register a PUSH feed, sign and push observations). Every operation is a typed document
 * generated from the schema (`npm run codegen`), so a schema change that breaks a flow
 * breaks the build.
 */
export function createCoverClient(options: CoverClientOptions) {
  const doFetch = options.fetch ?? fetch;
  const url = options.url;
  let token = options.token;
  const headers = (accept: string) => ({
    'content-type': 'application/json',
    accept,
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  });

  /** Runs any typed operation; throws CoverApiError with the first error's code. */
  async function request<TResult, TVariables>(document: TypedDocumentNode<TResult, TVariables>, variables?: TVariables): Promise<TResult> {
    let res: Response;
    let body: GraphQLBody<TResult>;
    try {
      res = await doFetch(options.url, {
        method: 'POST',
        headers: headers('application/graphql-response+json, application/json'),
        body: JSON.stringify({ query: print(document), variables: variables ?? {} }),
      });
      body = (await res.json()) as GraphQLBody<TResult>;
    } catch (error) {
      throw new CoverApiError(
        `the API at ${options.url} could not be reached or did not answer in JSON: ${(error as Error).message}`,
        'NETWORK_ERROR',
        [],
        {
          cause: error,
        },
      );
    }
    const first = body.errors?.[0];
    if (first) throw new CoverApiError(first.message, (first.extensions?.code ?? 'INTERNAL_SERVER_ERROR') as ErrorCode, body.errors ?? []);
    if (!body.data) throw new CoverApiError(`HTTP ${res.status} without data`, 'INTERNAL_SERVER_ERROR', []);
    return body.data;
  }

  /** One graphql-ws client per CoverClient, opened on its first WebSocket subscription; it retries nothing (subscribe does). */
  let ws: WsClient | undefined;
  const wsClient = () => {
    ws ??= createWsClient({
      url: url.replace(/^http/, 'ws'),
      connectionParams: () => (token ? { authorization: `Bearer ${token}` } : {}),
      retryAttempts: 0,
      lazy: true,
      ...(options.WebSocket ? { webSocketImpl: options.WebSocket } : {}),
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
    const opened = doFetch(url, {
      method: 'POST',
      headers: headers('text/event-stream'),
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
          dropped = new CoverApiError(`the subscription to ${url} dropped`, 'NETWORK_ERROR', []);
        } catch (error) {
          if (abort.signal.aborted) return;
          if (error instanceof CoverApiError && !RETRYABLE_CODES.has(error.code)) throw error;
          dropped =
            error instanceof CoverApiError
              ? error
              : new CoverApiError(
                  `the subscription to ${url} dropped or could not be opened: ${(error as Error)?.message ?? error}`,
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

  const transferDomain = (chainId?: number) =>
    request(PolicyTransferDomainDocument, { chainId: chainId ?? null }).then((r) => r.policyTransferDomain);

  return {
    request,
    subscribe,
    get token() {
      return token;
    },

    /**
     * Sign-In with Ethereum (EIP-4361) for the API's own host; keeps the session token for
     * the calls that follow and returns the session.
     */
    async signIn(signer: Signer, at: { chainId?: number; issuedAt?: Date } = {}) {
      const { siweNonce } = await request(SiweNonceDocument);
      const endpoint = new URL(options.url);
      // The API's own host when it accepts it, else the domain it names (behind a proxy, say).
      const domain = siweNonce.domains.includes(endpoint.host) ? endpoint.host : siweNonce.domain;
      const uri = domain === endpoint.host ? endpoint.origin : `${endpoint.protocol}//${domain}`;
      const message = createSiweMessage({
        address: signer.address,
        chainId: at.chainId ?? 1,
        domain,
        issuedAt: at.issuedAt ?? new Date(),
        nonce: siweNonce.nonce,
        uri,
        version: '1',
        statement: 'Sign in to the parametric cover marketplace.',
      });
      const signature = await signer.signMessage({ message });
      const { signInWithEthereum } = await request(SignInDocument, { message, signature });
      token = signInWithEthereum.token;
      return signInWithEthereum;
    },
    me: () => request(MeDocument),
    /** Ends every session of the signed-in address (and forgets this client's token). */
    async signOut() {
      const done = (await request(SignOutDocument)).signOut;
      token = undefined;
      return done;
    },
    /** What cover would cost now, without a session and without holding a price (buy with `quote`). */
    estimate: (riskId: string, amount: bigint | string, durationDays: number) =>
      request(QuoteEstimateDocument, { riskId, amount: amount.toString(), durationDays }).then((r) => r.quoteEstimate),
    risk: (id: string) => request(RiskDocument, { id }).then((r) => r.risk),
    incidents: (riskId?: string, first = 50, after?: string) =>
      request(IncidentsDocument, { riskId: riskId ?? null, first, after: after ?? null }).then((r) => r.incidents),

    // Buyers
    risks: (first = 50, after?: string) => request(RisksDocument, { first, after: after ?? null }).then((r) => r.risks),
    /** The cover left on a risk (per pool and cap) and the annual rate range for the term. */
    capacity: (riskId: string, durationDays = 30) => request(CapacityDocument, { riskId, durationDays }).then((r) => r.capacity),
    quote: (riskId: string, amount: bigint | string, durationDays: number) =>
      request(RequestQuoteDocument, { riskId, amount: amount.toString(), durationDays }).then((r) => r.requestQuote),
    buy: (quoteId: string) => request(PurchasePolicyDocument, { quoteId }).then((r) => r.purchasePolicy),
    policies: (first = 50, after?: string) => request(MyPoliciesDocument, { first, after: after ?? null }).then((r) => r.policies),
    /** Quotes taken, newest first: OPEN, BOUGHT (with its policy) or EXPIRED. */
    quotes: (first = 50, after?: string) => request(MyQuotesDocument, { first, after: after ?? null }).then((r) => r.quotes),
    payouts: (first = 50, after?: string) => request(MyPayoutsDocument, { first, after: after ?? null }).then((r) => r.payouts),
    /** The EIP-712 domain a transfer is signed under, for a wallet on `chainId` (the server's default chain when omitted). */
    policyTransferDomain: transferDomain,
    /**
     * Hands a policy to `to`, signed by its holder (EIP-712 `PolicyTransfer` under the server's
     * `policyTransferDomain` for `chainId`, the policy's `transferNonce`): the new holder is paid
     * by the incidents that confirm from then on. `deadline` is epoch milliseconds (default: an
     * hour); `chainId` is the chain of the holder's wallet (a contract wallet is asked there).
     */
    async transferPolicy(
      policy: { id: string; holder: string; transferNonce: number },
      to: string,
      holder: Signer,
      deadline = Date.now() + 3_600_000,
      chainId?: number,
    ) {
      const seconds = Math.floor(deadline / 1000);
      const domain = await transferDomain(chainId);
      const signature: Hex = await holder.signTypedData({
        domain: { ...domain, verifyingContract: domain.verifyingContract as Hex },
        types: policyTransferTypes,
        primaryType: 'PolicyTransfer',
        message: { policyId: policy.id, from: policy.holder, to, nonce: BigInt(policy.transferNonce), deadline: BigInt(seconds) },
      });
      return (await request(TransferPolicyDocument, { policyId: policy.id, to, deadline: seconds, signature, chainId: domain.chainId }))
        .transferPolicy;
    },
    /**
     * Renews an active policy in one step: the same cover for `durationDays` more from its end, at
     * today's price, never above `maxTotal` when given (QUOTE_PRICE_CHANGED, nothing bought).
     */
    renewPolicy: (policyId: string, durationDays: number, maxTotal?: bigint | string) =>
      request(RenewPolicyDocument, { policyId, durationDays, maxTotal: maxTotal?.toString() ?? null }).then((r) => r.renewPolicy),
    /** Moves a minted policy token to `to` from the holder's wallet (`transferFrom`; wallets.ts, sendPolicyToken). */
    transferPolicyToken: sendPolicyToken,
    /**
     * The signed-in buyer's payouts as they land. `since` (a payout's paidAt, or when the last
     * connection dropped) first replays the ones paid after it. The stream reconnects when it
     * drops, from the last payout received (or from when it was opened), so none is missed;
     * `signal` ends it.
     */
    payoutsLive(since?: string | Date, options: { signal?: AbortSignal; delayMs?: number; transport?: 'sse' | 'websocket' } = {}) {
      const opened = new Date(since ?? Date.now()).toISOString();
      return subscribe(
        PolicyPaidDocument,
        { since: since === undefined ? null : opened },
        {
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.transport ? { transport: options.transport } : {}),
          reconnect: {
            ...(options.delayMs === undefined ? {} : { delayMs: options.delayMs }),
            // From just before the last payout: one settlement pays many policies at one instant,
            // so those at its time are asked for again, and the ones already seen skipped.
            resume: (last) => {
              const at = last?.policyPaid.paidAt;
              return { since: at ? new Date(Date.parse(at) - 1).toISOString() : opened };
            },
            key: (r) => `${r.policyPaid.policyId}|${r.policyPaid.incidentId}`,
          },
        },
      );
    },

    // Money on chain (a server settling with the treasury contract)
    /** How the server settles: LEDGER, or CHAIN with the chain id, token, treasury and confirmations. */
    settlement: () => request(SettlementDocument).then((r) => r.settlement),
    /**
     * Deposits `amount` (base units) of the settlement token from `wallet` into the treasury,
     * credited to `beneficiary` (the wallet's own address by default) once the server has seen
     * its confirmations: one transaction, with an EIP-2612 permit signed offline instead of an
     * approval. Resolves with the transaction hash once it is mined; `chainDeposits()` shows it
     * pending, then credited.
     */
    async depositFromWallet(
      wallet: ChainWriter,
      chain: ChainReader,
      amount: bigint,
      o: { beneficiary?: Hex; deadline?: Date } = {},
    ): Promise<Hex> {
      return depositWithPermit((await request(SettlementDocument)).settlement, wallet, chain, amount, o);
    },
    /** The signed-in wallet's deposits: seen on chain and not yet confirmed, and credited. */
    chainDeposits: (first = 50, after?: string) =>
      request(MyChainDepositsDocument, { first, after: after ?? null }).then((r) => r.chainDeposits),
    /**
     * Sends part of the free wallet balance to the signed-in address on chain: QUEUED, then
     * SENT in a batch, then CONFIRMED (`transfers()`). The same `idempotencyKey` twice withdraws once.
     */
    withdrawToWallet: (amount: bigint | string, idempotencyKey?: string) =>
      request(WithdrawDocument, { amount: amount.toString(), idempotencyKey: idempotencyKey ?? null }).then((r) => r.withdraw),
    /** Transfers out of the treasury to the signed-in address, newest first: withdrawals and payouts. */
    transfers: (first = 50, after?: string) => request(MyTransfersDocument, { first, after: after ?? null }).then((r) => r.transfers),

    // Capital providers
    deposit: (poolId: string, amount: bigint | string, tranche: TrancheName = 'SENIOR') =>
      request(DepositDocument, { poolId, amount: amount.toString(), tranche }).then((r) => r.deposit),
    requestWithdrawal: (poolId: string, shares: bigint | string, tranche: TrancheName = 'SENIOR') =>
      request(RequestWithdrawalDocument, { poolId, shares: shares.toString(), tranche }).then((r) => r.requestWithdrawal),
    completeWithdrawal: (requestId: string) => request(CompleteWithdrawalDocument, { requestId }).then((r) => r.completeWithdrawal),
    /** Takes back a pending withdrawal request: its shares are free again. */
    cancelWithdrawal: (requestId: string) => request(CancelWithdrawalDocument, { requestId }).then((r) => r.cancelWithdrawal),
    /** What a pool offers a provider before the deposit: yield per tranche, expected and 99% losses, scenarios, terms (anonymous). */
    poolOutlook: (poolId: string) => request(PoolOutlookDocument, { id: poolId }).then((r) => r.pool),
    /** The signed-in wallet's history with the balance after each line; `csv` is the same as a spreadsheet reads it. */
    statement: (options: { asset?: string; from?: Date; to?: Date } = {}) =>
      request(StatementDocument, {
        asset: options.asset ?? 'USDC',
        from: options.from?.toISOString() ?? null,
        to: options.to?.toISOString() ?? null,
      }).then((r) => r.statement),
    /** Positions with what each earns: deposited, premium, losses, net and yields. */
    positions: (first = 50, after?: string) => request(MyPositionsDocument, { first, after: after ?? null }).then((r) => r.positions),
    /**
     * Hands `shares` free shares of a tranche to `to`, signed by the owner (EIP-712
     * `PositionTransfer` under the server's transfer domain, the position's `transferNonce`).
     * `deadline` is epoch milliseconds (default: an hour).
     */
    async transferPosition(
      position: { poolId: string; tranche: TrancheName; owner: string; transferNonce: number },
      shares: bigint | string,
      to: string,
      owner: Signer,
      deadline = Date.now() + 3_600_000,
      chainId?: number,
    ) {
      const seconds = Math.floor(deadline / 1000);
      const domain = await transferDomain(chainId);
      const message = {
        poolId: position.poolId,
        tranche: position.tranche,
        shares: BigInt(shares),
        from: position.owner,
        to,
        nonce: BigInt(position.transferNonce),
        deadline: BigInt(seconds),
      };
      const signature: Hex = await owner.signTypedData({
        domain: { ...domain, verifyingContract: domain.verifyingContract as Hex },
        types: positionTransferTypes,
        primaryType: 'PositionTransfer',
        message,
      });
      return (
        await request(TransferPositionDocument, {
          poolId: position.poolId,
          tranche: position.tranche,
          shares: message.shares.toString(),
          from: position.owner,
          to,
          deadline: seconds,
          signature,
          chainId: domain.chainId,
        })
      ).transferPosition;
    },
    /**
     * Issues `shares` free shares of a tranche as ERC-1155 tokens to the signed-in address (a
     * server settling on chain with a position token; CONFLICT elsewhere: use transferPosition).
     */
    issuePositionTokens: (poolId: string, shares: bigint | string, tranche: TrancheName = 'SENIOR', idempotencyKey?: string) =>
      request(IssuePositionTokensDocument, { poolId, shares: shares.toString(), tranche, idempotencyKey: idempotencyKey ?? null }).then(
        (r) => r.issuePositionTokens,
      ),
    /** Burns position tokens the wallet holds (`token`: a position's or an issue's) for free shares on the server, past its confirmations. */
    redeemPositionTokens,
    /** Registers an endpoint for events; the signing secret is in the answer, once. */
    registerWebhook: (url: string, events: WebhookEvent[]) =>
      request(RegisterWebhookDocument, { url, events }).then((r) => r.registerWebhook),
    /** The signed-in account's endpoints with their latest deliveries. */
    webhooks: () => request(WebhooksDocument, {}).then((r) => r.webhooks),
    createPool: (input: CreatePoolInput) => request(CreatePoolDocument, { input }).then((r) => r.createPool),

    // Integrators
    registerPushFeed: (name: string, heartbeatSeconds?: number) =>
      request(RegisterPushFeedDocument, { name, heartbeatSeconds: heartbeatSeconds ?? null }).then((r) => r.registerFeed),
    /**
     * Signs observations with the feed's reporter key (EIP-712: `pushDomain`, `pushTypes`,
     * times in whole seconds) and submits them. `observedAt` is epoch milliseconds, floored to
     * the second (what is signed and sent), so `Date.now()` works.
     */
    async pushObservations(feedId: string, reporter: Signer, given: ReadonlyArray<{ value: string; observedAt: number }>) {
      const observations = given.map((o) => ({ value: o.value, observedAt: Math.floor(o.observedAt / 1000) * 1000 }));
      const signature: Hex = await reporter.signTypedData({
        domain: pushDomain,
        types: pushTypes,
        primaryType: 'Observations',
        message: pushMessage(feedId, observations),
      });
      const input = observations.map((o) => ({ value: o.value, observedAt: new Date(o.observedAt).toISOString() }));
      return (await request(SubmitObservationsDocument, { feedId, observations: input, signature })).submitObservations;
    },
    /** Submissions the feed refused, newest first, with the code and reason (the feed's reporter and admins). */
    rejections: (feedId: string, first = 50, after?: string) =>
      request(FeedRejectionsDocument, { feedId, first, after: after ?? null }).then((r) => r.feed?.rejections ?? null),

    // Admins
    credit: (address: string, amount: bigint | string, reference: string) =>
      request(CreditAccountDocument, { address, amount: amount.toString(), reference }).then((r) => r.creditAccount),
    createRisk: (input: CreateRiskInput) => request(CreateRiskDocument, { input }).then((r) => r.createRisk),
    setRiskFeeds: (riskId: string, feedIds: string[]) => request(SetRiskFeedsDocument, { riskId, feedIds }).then((r) => r.setRiskFeeds),
  };
}

export type CoverClient = ReturnType<typeof createCoverClient>;
