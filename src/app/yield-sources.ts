import type { Address } from 'viem';
import { NotAVaultError } from '../chain/vaults.ts';
import { isUniqueViolation } from '../db/classify-error.ts';
import { findRisk } from '../db/risk-store.ts';
import { insertYieldSource, listYieldSources } from '../db/yield-store.ts';
import { badInput, conflict, notFound, unavailable } from '../domain/errors.ts';
import type { YieldSourceRecord } from '../domain/yield-source.ts';
import type { Deps } from './deps.ts';
import { newId } from '../db/ids.ts';
import { chainRail } from './money-rail.ts';
import { type Viewer, recipientAddress, requireAdmin } from './viewer.ts';

/** A yield source as the API shows it: its record and whether the treasury's owner allows placing in its vault now. */
export interface YieldSourceView extends YieldSourceRecord {
  allowed: boolean;
}

/**
 * Registers a yield source (issue 68, admin): an ERC-4626 vault over the settlement asset on the
 * settlement chain, paired with the SMART_CONTRACT_FAILURE risk of category YIELD that watches it
 * (its failure is then priced and simulated like any risk's). Refused with BAD_USER_INPUT and
 * `details.reason`: NO_CODE or NOT_ERC4626 (no vault at the address), NOT_THIS_ASSET (a vault
 * over another token), or a risk that is not a YIELD contract risk; CONFLICT if the vault is
 * registered already; UNAVAILABLE when the chain does not answer (nothing written: retry). Where
 * this deployment holds the treasury owner's key the vault is allowed on the treasury at once;
 * otherwise `allowed` stays false until the owner allows it (setVaultAllowed). In ledger
 * settlement there is nothing to place: SETTLEMENT_UNAVAILABLE.
 */
export async function registerYieldSource(
  deps: Deps,
  viewer: Viewer | null,
  input: { name: string; vault: string; riskId: string },
): Promise<YieldSourceView> {
  const admin = requireAdmin(viewer);
  const { rail, treasury } = chainRail(deps, 'a yield source (capital placed in a vault on chain)');
  const name = input.name.trim();
  if (name.length < 1 || name.length > 100) throw badInput('name must be 1 to 100 characters', { field: 'name' });
  const vault = recipientAddress(input.vault, 'vault') as Address;
  const risk = await findRisk(deps.db, input.riskId);
  if (!risk) throw notFound(`no risk ${input.riskId}`);
  if (risk.kind !== 'SMART_CONTRACT_FAILURE' || risk.scoreInputs.category !== 'YIELD')
    throw badInput("a yield source's risk is the SMART_CONTRACT_FAILURE risk of category YIELD that watches its vault", {
      field: 'riskId',
      reason: 'NOT_A_YIELD_RISK',
    });
  let facts: Awaited<ReturnType<typeof treasury.inspectVault>>;
  try {
    facts = await treasury.inspectVault(vault);
  } catch (error) {
    if (error instanceof NotAVaultError)
      throw badInput(`${vault} is not an ERC-4626 vault on chain ${rail.chainId}: ${error.message}`, {
        field: 'vault',
        reason: error.reason,
      });
    throw unavailable(`the settlement chain did not answer while the vault was read: nothing was registered; try again`);
  }
  if (facts.asset.toLowerCase() !== rail.token.toLowerCase())
    throw badInput(`${vault} is a vault over ${facts.asset}, not over the settlement token ${rail.token}`, {
      field: 'vault',
      reason: 'NOT_THIS_ASSET',
    });
  const source: YieldSourceRecord = {
    id: newId('ysrc'),
    name,
    vault,
    asset: rail.asset,
    riskId: risk.id,
    createdBy: admin.address,
    createdAt: deps.clock.now(),
  };
  try {
    await insertYieldSource(deps.db, source);
  } catch (error) {
    if (isUniqueViolation(error, 'yield_sources_vault_key')) throw conflict(`vault ${vault} is a yield source already`, { field: 'vault' });
    throw error;
  }
  deps.log.info({ yieldSource: source.id, vault, risk: risk.id }, 'yield source registered');
  return { ...source, allowed: await allowOnTreasury(deps, treasury, vault) };
}

/**
 * Allows the vault on the treasury where this deployment holds the owner's key (a failure is
 * logged: the source stays registered and the owner, or the next registration's retry, allows
 * it); reads whether it is allowed otherwise.
 */
async function allowOnTreasury(deps: Deps, treasury: NonNullable<Deps['treasury']>, vault: Address): Promise<boolean> {
  if (await treasury.vaultAllowed(vault).catch(() => false)) return true;
  if (!treasury.ownerAddress()) return false;
  try {
    await treasury.allowVault(vault);
    return true;
  } catch (error) {
    deps.log.error(
      { vault, err: error },
      "the treasury owner's allowance of a yield source's vault failed: the owner must allow it (setVaultAllowed)",
    );
    return false;
  }
}

/** Every yield source with whether its vault is allowed now (false where the chain does not answer). */
export async function yieldSources(deps: Deps): Promise<YieldSourceView[]> {
  return Promise.all((await listYieldSources(deps.db)).map((s) => yieldSourceView(deps, s)));
}

/** A yield source with whether its vault is allowed now (false where the chain does not answer). */
export async function yieldSourceView(deps: Deps, s: YieldSourceRecord): Promise<YieldSourceView> {
  const treasury = deps.config.rail.mode === 'chain' ? deps.treasury : undefined;
  return { ...s, allowed: treasury ? await treasury.vaultAllowed(s.vault as Address).catch(() => false) : false };
}
