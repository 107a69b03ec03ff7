import { createDatabaseClock } from '../app/database-clock.ts';
import { wireDeps } from '../app/wire.ts';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import pino from 'pino';
import { requestLogFields } from '../app/request-context.ts';
import { type Deps, systemClock } from '../app/deps.ts';
import type { Metrics } from '../app/metrics.ts';
import { createCpuWorker } from '../app/cpu-worker.ts';
import { createFeedReader } from '../chain/feed-readers.ts';
import { type RpcErrorHook, redactUrl } from '../chain/retry.ts';
import { type Database, createDatabase } from '../db/create-database.ts';
import { assetDecimals } from '../db/asset-store.ts';
import { type TreasuryGateway, createTreasuryGateway } from '../chain/treasury.ts';
import { type PolicyTokenGateway, createPolicyTokenGateway } from '../chain/policy-token.ts';
import { type PositionTokenGateway, createPositionTokenGateway } from '../chain/position-token.ts';
import { type Address, getAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { REDACTED_LOG_PATHS } from '../http/redaction.ts';
import { createPrometheus } from '../http/prometheus.ts';
import { createWatcher, type Watcher } from '../watcher/watcher.ts';
import type { SenderProbe } from '../app/send-payouts.ts';
import { type RuntimeConfig, loadConfig } from './load-config.ts';
import { SERVICE_VERSION } from './service-version.ts';

/** Reads and validates the environment; exits with a message naming a bad variable. */
export function configFromEnv(): RuntimeConfig {
  try {
    // Settings `npm run deploy` wrote (chain settlement); variables already set win.
    const file = process.env.SETTLEMENT_ENV_FILE;
    if (file) {
      if (!existsSync(file)) throw new Error(`invalid configuration: SETTLEMENT_ENV_FILE: ${file} does not exist (run npm run deploy)`);
      process.loadEnvFile(file);
    }
    return loadConfig(process.env);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(2);
  }
}

/** Opens and migrates the database and wires the dependencies every entry point shares. */
export async function createRuntime(
  config: RuntimeConfig,
  options: { logToStderr?: boolean } = {},
): Promise<{ deps: Deps; prometheus: ReturnType<typeof createPrometheus> }> {
  // Written asynchronously: under load, lines that arrive while a write is under way leave in
  // the next write together instead of one blocking write(2) per line on the thread that
  // serves requests. pino flushes what is pending when the process exits (a crash included);
  // only a SIGKILL can lose the last lines.
  const log = pino(
    // Each line written during a request carries its id, trace and GraphQL operation.
    {
      level: config.logLevel,
      // pino's pid and hostname, and the version that wrote the line (as on the spans).
      base: { pid: process.pid, hostname: hostname(), 'service.version': SERVICE_VERSION },
      redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
      mixin: requestLogFields,
    },
    pino.destination({ dest: options.logToStderr ? 2 : 1, sync: false }),
  );
  for (const w of config.warnings) log.warn(w);
  const db = await createDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    lockTimeoutMs: config.dbLockTimeoutMs,
    failoverWaitMs: config.dbFailoverWaitMs,
    statementTimeoutMs: config.dbStatementTimeoutMs,
  });
  // In a deployment a one-shot `npm run migrate` applies them; replicas then skip it.
  if (config.migrateOnStart) await db.migrate();
  // Replicas on a database server share its clock; the embedded database runs on this machine's.
  const clock = db.kind === 'postgres' ? await createDatabaseClock({ db }, log) : systemClock;
  const prometheus = createPrometheus(db, clock);
  const treasury = config.chainRail ? await connectTreasury(config, db, prometheus.metrics) : undefined;
  const tokens = treasury ? await connectTokens(config, treasury, prometheus.metrics) : {};
  return {
    deps: wireDeps({
      db,
      clock,
      config: config.app,
      log,
      metrics: prometheus.metrics,
      cpu: createCpuWorker(),
      ...(treasury ? { treasury } : {}),
      ...tokens,
    }),
    prometheus,
  };
}

/**
 * The treasury gateway for chain settlement, checked before anything is served: the RPC
 * answers the configured chain, the contract holds the configured token, the token's
 * decimals are the ledger asset's, and the operator key (where this process sends
 * payouts) is the contract's operator. Any mismatch stops the process with a message.
 */
async function connectTreasury(config: RuntimeConfig, db: Database, metrics: Metrics): Promise<TreasuryGateway> {
  const s = config.app.rail;
  const c = config.chainRail;
  if (s.mode !== 'chain' || !c) throw new Error('connectTreasury needs the chain rail');
  const operator = c.operator?.kind === 'key' ? privateKeyToAccount(c.operator.key) : c.operator?.address;
  const treasury = createTreasuryGateway({
    chainId: s.chainId,
    rpcUrls: c.rpcUrls,
    token: s.token as Address,
    treasury: s.treasury as Address,
    operator,
    signerUrl: c.operator?.kind === 'remote' ? c.operator.url : undefined,
    owner: c.ownerKey ? privateKeyToAccount(c.ownerKey) : undefined,
    onRpcError: countRpcErrors(metrics, s.chainId),
  });
  const refuse = (message: string): never => {
    console.error(`chain settlement refused to start: ${message}`);
    process.exit(2);
  };
  let facts: { chainId: number; token: string; decimals: number; operator: string };
  try {
    const [chainId, token, decimals, onChainOperator] = await Promise.all([
      treasury.client.getChainId(),
      treasury.treasuryToken(),
      treasury.tokenDecimals(),
      treasury.operator(),
    ]);
    facts = { chainId, token, decimals, operator: onChainOperator };
  } catch (error) {
    return refuse(
      `cannot read the treasury ${s.treasury} on chain ${s.chainId}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
    );
  }
  if (facts.chainId !== s.chainId) refuse(`the RPC answers chain ${facts.chainId}, not SETTLEMENT_CHAIN_ID ${s.chainId}`);
  if (getAddress(facts.token) !== getAddress(s.token)) refuse(`the treasury holds token ${facts.token}, not SETTLEMENT_TOKEN ${s.token}`);
  let assetDecimalsValue: number;
  try {
    assetDecimalsValue = await assetDecimals(db, s.asset);
  } catch {
    return refuse(`the ledger has no asset ${s.asset} (SETTLEMENT_ASSET)`);
  }
  if (facts.decimals !== assetDecimalsValue) {
    refuse(
      `the token has ${facts.decimals} decimals but the ledger asset ${s.asset} has ${assetDecimalsValue}: amounts would be off by 10^${Math.abs(facts.decimals - assetDecimalsValue)}`,
    );
  }
  if (operator && getAddress(facts.operator) !== treasury.operatorAddress()) {
    refuse(`the operator key is for ${treasury.operatorAddress()} but the treasury's operator is ${facts.operator}`);
  }
  return treasury;
}

/**
 * The platform's tokens beside the treasury, where configured (POLICY_TOKEN_ADDRESS,
 * POSITION_TOKEN_ADDRESS): each must have code on the settlement chain, and the minter key
 * (where this process mints) must be each token's minter. A mismatch stops the process with a message.
 */
async function connectTokens(
  config: RuntimeConfig,
  treasury: TreasuryGateway,
  metrics: Metrics,
): Promise<{ policyToken?: PolicyTokenGateway; positionToken?: PositionTokenGateway }> {
  const s = config.app.rail;
  const c = config.chainRail;
  if (s.mode !== 'chain' || !c) return {};
  const minter = c.minterKey ? privateKeyToAccount(c.minterKey) : undefined;
  const common = {
    chainId: s.chainId,
    rpcUrls: c.rpcUrls,
    minter,
    client: treasury.client,
    onRpcError: countRpcErrors(metrics, s.chainId),
  };
  const policyToken = s.policyToken ? createPolicyTokenGateway({ ...common, address: s.policyToken as Address }) : undefined;
  const positionToken = s.positionToken ? createPositionTokenGateway({ ...common, address: s.positionToken as Address }) : undefined;
  for (const [what, token] of [
    ['policy token', policyToken],
    ['position token', positionToken],
  ] as const) {
    if (!token) continue;
    let onChainMinter: string;
    try {
      onChainMinter = await token.minter();
    } catch (error) {
      console.error(
        `chain settlement refused to start: cannot read the ${what} ${token.address} on chain ${s.chainId}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
      );
      return process.exit(2);
    }
    if (minter && getAddress(onChainMinter) !== minter.address) {
      console.error(
        `chain settlement refused to start: the minter key is for ${minter.address} but the ${what}'s minter is ${onChainMinter}`,
      );
      return process.exit(2);
    }
  }
  return { ...(policyToken ? { policyToken } : {}), ...(positionToken ? { positionToken } : {}) };
}

/** Counts a chain's RPC requests that failed after their retries (cover_rpc_errors_total). */
function countRpcErrors(metrics: Metrics, chainId: number): RpcErrorHook {
  return (f) => metrics.count('rpc_errors', { chain: String(chainId), method: f.method, kind: f.kind });
}

/** FAILPOINT_AFTER_BROADCAST_MS: holds the sender where a crash is worst, saying so, so a fault test can kill it there. */
function failpointAfterBroadcast(deps: Deps, ms: number): SenderProbe {
  return async (_step, batch) => {
    deps.log.warn({ batch: batch.number.toString(), txHash: batch.txHash, ms }, 'failpoint: paused after broadcast');
    await new Promise((r) => setTimeout(r, ms));
  };
}

export function createRuntimeWatcher(deps: Deps, config: RuntimeConfig): Watcher {
  deps.log.info(
    { chains: [...config.rpcUrls].map(([id, url]) => `${id}=${url.split('|').map(redactUrl).join('|')}`) },
    'watcher configured',
  );
  return createWatcher(deps, {
    reader: createFeedReader({
      rpcUrls: config.rpcUrls,
      confirmations: config.feedConfirmations,
      now: deps.clock.now,
      httpAllowedHosts: config.app.httpFeedAllowedHosts,
      onRpcError: (chainId) => countRpcErrors(deps.metrics, chainId),
    }),
    intervalMs: config.watcherIntervalMs,
    leaseTtlMs: config.watcherLeaseTtlMs,
    maintenanceIntervalMs: config.maintenanceIntervalMs,
    ...(config.failpointAfterBroadcastMs > 0 ? { senderProbe: failpointAfterBroadcast(deps, config.failpointAfterBroadcastMs) } : {}),
  });
}
