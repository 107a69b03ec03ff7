import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { createSiweMessage } from 'viem/siwe';
import {
  CompleteWithdrawalDocument,
  CancelWithdrawalDocument,
  IssuePositionTokensDocument,
  PoolOutlookDocument,
  StatementDocument,
  RenewPolicyDocument,
  RegisterWebhookDocument,
  WebhooksDocument,
  DeleteWebhookDocument,
  TestWebhookDocument,
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
  RegisterPushFeedDocument,
  RequestQuoteDocument,
  RequestBundleQuoteDocument,
  OffersDocument,
  SetPoolRiskPriceDocument,
  SetPoolYieldSourceDocument,
  YieldSourcesDocument,
  RequestWithdrawalDocument,
  RisksDocument,
  CapacityDocument,
  SignInDocument,
  SetRiskFeedsDocument,
  SiweNonceDocument,
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
export type { Signer } from './signed.ts';
export { formatAmount, formatPercent } from './format.ts';
import { type ApiErrorBody, CoverApiError } from './errors.ts';
import { type ChainReader, type ChainWriter, depositWithPermit, redeemPositionTokens, sendPolicyToken } from './wallets.ts';
import { apiError } from './sse.ts';
import { type Signer, signedOperations } from './signed.ts';
import { createSubscriber } from './subscriptions.ts';

type Hex = `0x${string}`;

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
    if (body.errors?.length) throw apiError(body.errors);
    if (!body.data) throw new CoverApiError(`HTTP ${res.status} without data`, 'INTERNAL_SERVER_ERROR', []);
    return body.data;
  }

  /** A subscription, over server-sent events (the default) or a WebSocket (subscriptions.ts). */
  const subscribe = createSubscriber({ url, fetch: doFetch, WebSocket: options.WebSocket, token: () => token, headers });

  return {
    request,
    subscribe,
    ...signedOperations(request),
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

    // Buyers (policyTransferDomain, transferPolicy: signed.ts)
    risks: (first = 50, after?: string) => request(RisksDocument, { first, after: after ?? null }).then((r) => r.risks),
    /** The cover left on a risk (per pool and cap) and the annual rate range for the term. */
    capacity: (riskId: string, durationDays = 30) => request(CapacityDocument, { riskId, durationDays }).then((r) => r.capacity),
    /**
     * A firm quote. `distributor`: who sells it and its commission in basis points of the premium,
     * which the buyer pays on top (total includes it) to the distributor's wallet.
     */
    quote: (riskId: string, amount: bigint | string, durationDays: number, distributor?: { address: string; commissionBps: number }) =>
      request(RequestQuoteDocument, { riskId, amount: amount.toString(), durationDays, distributor: distributor ?? null }).then(
        (r) => r.requestQuote,
      ),
    /**
     * A firm quote for a bundle: one policy over 2 to 10 risks, each item routed across its
     * pools, priced together (breakdown.capitalTogether: the capital its items hold together
     * over apart). Buy it with `buy`, as any quote.
     */
    bundleQuote: (
      items: ReadonlyArray<{ riskId: string; amount: bigint | string }>,
      durationDays: number,
      distributor?: { address: string; commissionBps: number },
    ) =>
      request(RequestBundleQuoteDocument, {
        items: items.map((i) => ({ riskId: i.riskId, amount: i.amount.toString() })),
        durationDays,
        distributor: distributor ?? null,
      }).then((r) => r.requestBundleQuote),
    /** Every pool's offer for a cover on the risk, cheapest first. */
    offers: (riskId: string, amount: bigint | string, durationDays = 30) =>
      request(OffersDocument, { riskId, amount: amount.toString(), durationDays }).then((r) => r.risk?.offers ?? []),
    buy: (quoteId: string) => request(PurchasePolicyDocument, { quoteId }).then((r) => r.purchasePolicy),
    policies: (first = 50, after?: string) => request(MyPoliciesDocument, { first, after: after ?? null }).then((r) => r.policies),
    /** Quotes taken, newest first: OPEN, BOUGHT (with its policy) or EXPIRED. */
    quotes: (first = 50, after?: string) => request(MyQuotesDocument, { first, after: after ?? null }).then((r) => r.quotes),
    payouts: (first = 50, after?: string) => request(MyPayoutsDocument, { first, after: after ?? null }).then((r) => r.payouts),
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
    /** The curator prices the pool's capacity on a risk: an annual rate in basis points of the cover, at least the floor; null: the model's price. */
    setPoolRiskPrice: (poolId: string, riskId: string, targetRateBps: number | null) =>
      request(SetPoolRiskPriceDocument, { poolId, riskId, targetRateBps }).then((r) => r.setPoolRiskPrice),
    deposit: (poolId: string, amount: bigint | string, tranche: TrancheName = 'SENIOR') =>
      request(DepositDocument, { poolId, amount: amount.toString(), tranche }).then((r) => r.deposit),
    requestWithdrawal: (poolId: string, shares: bigint | string, tranche: TrancheName = 'SENIOR') =>
      request(RequestWithdrawalDocument, { poolId, shares: shares.toString(), tranche }).then((r) => r.requestWithdrawal),
    completeWithdrawal: (requestId: string) => request(CompleteWithdrawalDocument, { requestId }).then((r) => r.completeWithdrawal),
    /** Takes back a pending withdrawal request: its shares are free again. */
    cancelWithdrawal: (requestId: string) => request(CancelWithdrawalDocument, { requestId }).then((r) => r.cancelWithdrawal),
    /** What a pool offers a provider before the deposit: yield per tranche (premium and base yield), where its capital is placed, expected and 99% losses, scenarios, terms (anonymous). */
    poolOutlook: (poolId: string) => request(PoolOutlookDocument, { id: poolId }).then((r) => r.pool),
    /** The vaults pool capital may be placed in, each with the risk that watches it (anonymous). */
    yieldSources: () => request(YieldSourcesDocument, {}).then((r) => r.yieldSources),
    /** The curator places `targetBps` of the pool's capital in a yield source (null: takes it out); the watcher moves it on chain. */
    setPoolYieldSource: (poolId: string, sourceId: string | null, targetBps: number) =>
      request(SetPoolYieldSourceDocument, { poolId, sourceId, targetBps }).then((r) => r.setPoolYieldSource),
    /** The signed-in wallet's history with the balance after each line; `csv` is the same as a spreadsheet reads it. */
    statement: (options: { asset?: string; from?: Date; to?: Date } = {}) =>
      request(StatementDocument, {
        asset: options.asset ?? 'USDC',
        from: options.from?.toISOString() ?? null,
        to: options.to?.toISOString() ?? null,
      }).then((r) => r.statement),
    // transferPosition: signed.ts
    /** Positions with what each earns: deposited, premium, losses, net and yields. */
    positions: (first = 50, after?: string) => request(MyPositionsDocument, { first, after: after ?? null }).then((r) => r.positions),
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
    /** Deletes one of the signed-in account's endpoints: nothing more is sent to it. */
    deleteWebhook: (id: string) => request(DeleteWebhookDocument, { id }).then((r) => r.deleteWebhook),
    /** Sends a signed TEST event to one of the signed-in account's endpoints; its delivery shows in `webhooks()`. */
    testWebhook: (id: string) => request(TestWebhookDocument, { id }).then((r) => r.testWebhook),
    /** The signed-in account's endpoints with their latest deliveries. */
    webhooks: () => request(WebhooksDocument, {}).then((r) => r.webhooks),
    createPool: (input: CreatePoolInput) => request(CreatePoolDocument, { input }).then((r) => r.createPool),

    // Integrators (pushObservations: signed.ts)
    registerPushFeed: (name: string, heartbeatSeconds?: number) =>
      request(RegisterPushFeedDocument, { name, heartbeatSeconds: heartbeatSeconds ?? null }).then((r) => r.registerFeed),
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
