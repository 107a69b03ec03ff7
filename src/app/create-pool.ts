import { findRisk } from '../db/risk-store.ts';
import { assetDecimals } from '../db/asset-store.ts';
import { ledgerAccounts } from '../db/ledger.ts';
import { findPool, insertPool, poolsCreatedSince, setPoolFee, setPoolRiskTarget } from '../db/pool-store.ts';
import type { RiskRecord } from '../domain/risk.ts';
import { FLOOR_REFERENCE_DAYS, floorRateBps } from './sale-terms.ts';
import { MAX_CURATOR_FEE_BPS, type PoolRecord, type TrancheName, curatorFeeAt } from '../domain/pool.ts';
import { badInput, forbidden, notFound, rateLimited } from '../domain/errors.ts';
import { newId } from '../db/ids.ts';
import { type Viewer, requireViewer } from './viewer.ts';
import type { Deps } from './deps.ts';

/** A curator's new pool: the risks it backs with their caps, its limits, tranche weights and cooldown. */
export interface CreatePoolInput {
  name: string;
  asset?: string | null;
  risks: ReadonlyArray<{ riskId: string; capBps?: number | null; targetRateBps?: number | null }>;
  riskCapBps?: number | null;
  groupCapBps?: number | null;
  totalCapBps?: number | null;
  cooldownSeconds?: number | null;
  /** Tranches besides SENIOR (always present): JUNIOR and/or FIRST_LOSS. */
  tranches?: ReadonlyArray<TrancheName> | null;
  /** Premium weight per unit of capital relative to senior = 10000 (defaults 20000 and 30000). */
  juniorWeightBps?: number | null;
  firstLossWeightBps?: number | null;
  /** The curator's fee on premium, 0 to MAX_CURATOR_FEE_BPS (default 0). */
  curatorFeeBps?: number | null;
}

function bps(value: number | null | undefined, fallback: number, field: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > 100_000) throw badInput(`${field} must be 1 to 100000 basis points`, { field });
  return v;
}

/**
 * Any signed-in user may curate a pool. A pool always has a SENIOR tranche and may add a
 * JUNIOR one and a FIRST_LOSS stake that only the curator funds; losses hit first-loss,
 * then junior, then senior, and earned premium is shared by capital x weight.
 */
const MAX_POOLS_PER_DAY = 10;

export async function createPool(deps: Deps, viewer: Viewer | null, input: CreatePoolInput): Promise<PoolRecord> {
  const curator = requireViewer(viewer);
  const name = input.name?.trim() ?? '';
  if (name.length < 1 || name.length > 120) throw badInput('name must be 1 to 120 characters', { field: 'name' });
  // Pools are listed to everyone: one account may open only a few a day (admins excepted).
  const now = deps.clock.now();
  if (!curator.roles.includes('admin') && (await poolsCreatedSince(deps.db, curator.address, now - 86_400_000)) >= MAX_POOLS_PER_DAY) {
    throw rateLimited(`an account may create at most ${MAX_POOLS_PER_DAY} pools a day`, { maximum: MAX_POOLS_PER_DAY });
  }
  const asset = input.asset ?? 'USDC';
  const decimals = await assetDecimals(deps.db, asset);
  const defaults = deps.config.defaultLimits;
  const limits = {
    riskCapBps: bps(input.riskCapBps, defaults.riskCapBps, 'riskCapBps'),
    groupCapBps: bps(input.groupCapBps, defaults.groupCapBps, 'groupCapBps'),
    totalCapBps: bps(input.totalCapBps, defaults.totalCapBps, 'totalCapBps'),
  };
  const cooldownSeconds = input.cooldownSeconds ?? deps.config.defaultCooldownSeconds;
  if (!Number.isInteger(cooldownSeconds) || cooldownSeconds < 0 || cooldownSeconds > 365 * 86_400) {
    throw badInput('cooldownSeconds must be 0 to one year', { field: 'cooldownSeconds' });
  }
  if (!Array.isArray(input.risks) || input.risks.length < 1 || input.risks.length > 50) {
    throw badInput('a pool backs 1 to 50 risks', { field: 'risks' });
  }
  const seen = new Set<string>();
  const risks: Array<{ riskId: string; capBps: number; targetRateBps: number | null }> = [];
  const adequacy: PoolRecord['adequacy'] = { status: 'GREEN', var995: 0n, es99: 0n, at: null, capital: { risks: {}, book: null } };
  for (const [i, r] of input.risks.entries()) {
    if (seen.has(r.riskId)) throw badInput(`risk ${r.riskId} is listed twice`, { field: `risks[${i}].riskId` });
    seen.add(r.riskId);
    const risk = await findRisk(deps.db, r.riskId);
    if (!risk) throw notFound(`no risk ${r.riskId}`);
    risks.push({
      riskId: r.riskId,
      capBps: bps(r.capBps, limits.riskCapBps, `risks[${i}].capBps`),
      targetRateBps: await targetRate(deps, adequacy, risk, r.targetRateBps ?? null, `risks[${i}].targetRateBps`),
    });
  }
  const layout = new Set<TrancheName>(['SENIOR', ...(input.tranches ?? [])]);
  for (const t of layout)
    if (!['SENIOR', 'JUNIOR', 'FIRST_LOSS'].includes(t)) throw badInput(`unknown tranche ${t}`, { field: 'tranches' });
  const weight = (value: number | null | undefined, fallback: number, field: string) => {
    const v = value ?? fallback;
    if (!Number.isInteger(v) || v < 0 || v > 1_000_000) throw badInput(`${field} must be 0 to 1000000 basis points`, { field });
    return v;
  };
  const pool: PoolRecord = {
    id: newId('pool'),
    name,
    asset,
    decimals,
    curator: curator.address,
    limits,
    cooldownSeconds,
    totalExposure: 0n,
    accrual: { rateWad: 0n, carryWad: 0n, accruedAt: now },
    juniorWeightBps: weight(input.juniorWeightBps, 20_000, 'juniorWeightBps'),
    firstLossWeightBps: weight(input.firstLossWeightBps, 30_000, 'firstLossWeightBps'),
    curatorFee: { bps: curatorFeeBps(input.curatorFeeBps ?? 0), pending: null },
    adequacy,
    createdAt: now,
  };
  const tranches = [...layout].map((tranche) => ({ tranche, accountId: ledgerAccounts.tranche(asset, pool.id, tranche).id }));
  await deps.db.transaction((tx) => insertPool(tx, pool, risks, tranches));
  return pool;
}

/**
 * A curator's asked annual rate for a risk, checked: whole basis points of the cover amount, 1
 * to 100000, and not below the pool's floor for it (the model's price: floorRateBps), which the
 * refusal names. Null asks for the model's price.
 */
async function targetRate(
  deps: Deps,
  adequacy: PoolRecord['adequacy'],
  risk: RiskRecord,
  value: number | null,
  field: string,
): Promise<number | null> {
  if (value === null) return null;
  if (!Number.isInteger(value) || value < 1 || value > 100_000)
    throw badInput(`${field} must be 1 to 100000 basis points a year`, { field });
  const floor = await floorRateBps(deps, { pool: { adequacy } }, risk);
  if (value < floor) {
    throw badInput(
      `${field} ${value} basis points a year is below this pool's floor for ${risk.name}, ${floor} (the model's price: expected loss, uncertainty and the capital the cover holds, at ${FLOOR_REFERENCE_DAYS} days)`,
      { field, floorRateBps: floor },
    );
  }
  return value;
}

/**
 * The curator sets the annual rate the pool asks for cover on one of its risks (issue 72), at
 * or above the floor; null returns to the model's price. It applies to quotes from now on (a
 * quote already given keeps its price). Returns the pool's risk as Pool.risks shows it.
 */
export async function setPoolRiskPrice(
  deps: Deps,
  viewer: Viewer | null,
  poolId: string,
  riskId: string,
  targetRateBps: number | null,
): Promise<PoolRecord> {
  const v = requireViewer(viewer);
  return deps.db.transaction(async (tx) => {
    const pool = await findPool(tx, poolId, true);
    if (!pool) throw notFound(`no pool ${poolId}`);
    if (pool.curator !== v.address) throw forbidden("only the pool's curator prices its capacity");
    const risk = await findRisk(tx, riskId);
    if (!risk) throw notFound(`no risk ${riskId}`);
    const target = await targetRate(deps, pool.adequacy, risk, targetRateBps, 'targetRateBps');
    if (!(await setPoolRiskTarget(tx, poolId, riskId, target))) throw notFound(`pool ${poolId} does not back risk ${riskId}`);
    return pool;
  });
}

/** A curator fee as given: whole basis points from 0 to the bound. */
export function curatorFeeBps(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_CURATOR_FEE_BPS)
    throw badInput(`curatorFeeBps must be 0 to ${MAX_CURATOR_FEE_BPS} basis points (at most 20% of premium)`, { field: 'curatorFeeBps' });
  return value;
}

/**
 * The curator sets the pool's fee on premium (issue 59). A cut applies at once; a raise waits one
 * cooldown (at least a day), so every provider can see it on the pool page and withdraw first.
 * Sales are charged the fee in force when they are made.
 */
export async function setCuratorFee(deps: Deps, viewer: Viewer | null, poolId: string, feeBps: number): Promise<PoolRecord> {
  const v = requireViewer(viewer);
  const bps = curatorFeeBps(feeBps);
  return deps.db.transaction(async (tx) => {
    const pool = await findPool(tx, poolId, true);
    if (!pool) throw notFound(`no pool ${poolId}`);
    if (pool.curator !== v.address) throw forbidden("only the pool's curator sets its fee");
    const now = deps.clock.now();
    const current = curatorFeeAt(pool, now);
    // The same raise asked again keeps its date: asking twice does not push it back.
    const pending = pool.curatorFee.pending;
    const at =
      bps <= current
        ? null
        : pending && pending.bps === bps && pending.at > now
          ? pending.at
          : now + Math.max(pool.cooldownSeconds, 86_400) * 1000;
    await setPoolFee(tx, poolId, at === null ? { bps, pending: null } : { bps: current, pending: { bps, at } });
    return {
      ...pool,
      curatorFee: at === null ? { bps, pending: null } : { bps: current, pending: { bps, at } },
    };
  });
}
