import { type Hex, getAddress, isHex } from 'viem';
import { recipientAddress } from './viewer.ts';
import type { Executor } from '../db/create-database.ts';
import { findPolicy, lockPolicy, recordPolicyTransfer } from '../db/cover-store.ts';
import { incidentPayingPolicy } from '../db/incident-store.ts';
import type { PolicyRecord } from '../domain/cover.ts';
import { badInput, conflict, notFound, policyClaimed, unauthenticated } from '../domain/errors.ts';
import { hkdfSync } from 'node:crypto';
import {
  POLICY_TRANSFER_DOMAIN_VERSION,
  type PolicyTransferDomain,
  type PolicyTransferMessage,
  policyTransferDomain,
  policyTransferTypes,
  retiredPolicyTransferDomain,
} from '../domain/policy-transfer.ts';
import { accountSigned } from '../chain/signatures.ts';
import { signedBy } from './sign-in.ts';
import type { Deps } from './deps.ts';
import { policiesAreTokens } from './policy-tokens.ts';

export interface TransferPolicyInput {
  policyId: string;
  to: string;
  /** Unix seconds after which the signature is refused. */
  deadline: number;
  /** The holder's EIP-712 signature of PolicyTransfer (domain/policy-transfer.ts). */
  signature: string;
  /** The chain id the signature's domain names (default: transferChainOf). */
  chainId?: number | null | undefined;
}

const domainContracts = new WeakMap<object, Hex>();

/**
 * The deployment a transfer's signature is bound to (its domain's verifyingContract): the
 * treasury where money is on chain; in the ledger, an address derived from JWT_SECRET (which
 * every replica shares and a staging copy does not), so a signature made for one deployment is
 * refused by another holding the same policy ids.
 */
export function transferDomainContract(deps: Deps): Hex {
  const rail = deps.config.rail;
  if (rail.mode === 'chain') return getAddress(rail.treasury);
  let address = domainContracts.get(deps.config);
  if (!address) {
    const bytes = Buffer.from(hkdfSync('sha256', deps.config.jwt.secret, '', 'parametric-cover policy transfer domain v2', 20));
    address = getAddress(`0x${bytes.toString('hex')}`);
    domainContracts.set(deps.config, address);
  }
  return address;
}

/** The chain a transfer's domain names when the caller does not say: the settlement chain, else the first sign-in chain. */
export function transferChainOf(deps: Deps): number {
  const rail = deps.config.rail;
  return rail.mode === 'chain' ? rail.chainId : (deps.config.siwe.chainIds[0] ?? 1);
}

/** The EIP-712 domain a holder signs a transfer under, for a wallet on `chainId`. */
export function transferDomainFor(deps: Deps, chainId: number | null | undefined): PolicyTransferDomain {
  const chain = chainId ?? transferChainOf(deps);
  if (!deps.config.siwe.chainIds.includes(chain))
    throw badInput(`chain ${chain} is not accepted for signatures (accepted: ${deps.config.siwe.chainIds.join(', ')})`, {
      field: 'chainId',
    });
  return policyTransferDomain(chain, transferDomainContract(deps));
}

/**
 * Hands a policy to another address on its holder's EIP-712 signature (docs/design.md §6,
 * "Policies change hands"): anyone may submit it (a relayer, the new holder), only the
 * holder's signature moves it, once (the nonce is the policy's transfer count). What moves is
 * the right to the cover's future payouts: an incident pays whoever held the policy when it
 * confirmed. A paid policy or one past its term has nothing left to hand over and is refused.
 */
export async function transferPolicy(deps: Deps, input: TransferPolicyInput): Promise<PolicyRecord> {
  recipientAddress(input.to, 'to');
  if (!Number.isSafeInteger(input.deadline) || input.deadline < 0) throw badInput('deadline must be unix seconds', { field: 'deadline' });
  if (!isHex(input.signature) || input.signature.length > 20_000)
    throw badInput('signature must be 0x-prefixed hex', { field: 'signature' });
  if (policiesAreTokens(deps)) {
    throw conflict(
      'policies here are ERC-721 tokens on the settlement chain: the holder transfers the token from their wallet (transferFrom)',
      {
        policyId: input.policyId,
      },
    );
  }
  const to = getAddress(input.to);
  const now = deps.clock.now();
  if (input.deadline * 1000 < now)
    throw badInput(`the transfer's deadline ${new Date(input.deadline * 1000).toISOString()} has passed`, { field: 'deadline' });
  // Verified first, outside any transaction (a contract wallet is asked on a chain, which may
  // hang); then the policy is locked and what the signature was checked against checked again.
  const seen = await findPolicy(deps.db, input.policyId);
  if (!seen) throw notFound(`no policy ${input.policyId}`);
  await refuseUnless(deps.db, seen, now);
  const message: PolicyTransferMessage = {
    policyId: seen.id,
    from: seen.holder as Hex,
    to,
    nonce: BigInt(seen.transfers),
    deadline: BigInt(input.deadline),
  };
  const domain = transferDomainFor(deps, input.chainId);
  const typedData = { domain, types: policyTransferTypes, primaryType: 'PolicyTransfer' as const, message };
  // An EOA's signature, else a contract wallet's (ERC-1271, ERC-6492), asked on the chain the
  // domain names and nowhere else. The refusal names neither the holder nor the nonce: anyone
  // may call this with any policy id.
  const rpc = deps.config.siwe.rpcUrls.get(domain.chainId);
  if (!(await signedBy(deps, rpc ? [[domain.chainId, rpc]] : [], message.from, { typedData }, input.signature as Hex))) {
    const retired = { domain: retiredPolicyTransferDomain, types: policyTransferTypes, primaryType: 'PolicyTransfer' as const, message };
    if (await accountSigned(message.from, { typedData: retired }, input.signature as Hex))
      throw unauthenticated(
        `the transfer is signed under the retired domain {name, version: "1"}, bound to no chain or deployment: sign it again under policyTransferDomain (version ${POLICY_TRANSFER_DOMAIN_VERSION}, with chainId and verifyingContract)`,
      );
    throw unauthenticated(
      "the transfer is not signed by the policy's holder (sign PolicyTransfer under policyTransferDomain, with the policy's transfer count as its nonce)",
    );
  }
  return deps.db.transaction(async (tx) => {
    const policy = await lockPolicy(tx, input.policyId);
    if (!policy) throw notFound(`no policy ${input.policyId}`);
    if (policy.holder !== seen.holder || policy.transfers !== seen.transfers)
      throw conflict(`policy ${policy.id} changed hands while the transfer was checked: sign the transfer again`, { policyId: policy.id });
    await refuseUnless(tx, policy, now);
    // Only past the holder's signature: before it, this would tell anyone who holds the policy.
    if (to === policy.holder) throw badInput(`${to} already holds policy ${policy.id}`, { field: 'to' });
    await recordPolicyTransfer(tx, {
      policyId: policy.id,
      seq: policy.transfers + 1,
      from: policy.holder,
      to,
      at: now,
      signature: input.signature,
    });
    return { ...policy, holder: to, transfers: policy.transfers + 1 };
  });
}

/**
 * What a policy must be to change hands: in force, unpaid, and with no incident confirmed on
 * it. An incident pays whoever held the policy when it confirmed, so a policy sold after that
 * would carry nothing while it looked paid to its new holder.
 */
async function refuseUnless(ex: Executor, policy: PolicyRecord, now: number): Promise<void> {
  if (policy.status === 'PAID')
    throw conflict(`policy ${policy.id} has been paid: it carries nothing more to hand over`, { policyId: policy.id });
  if (policy.status === 'EXPIRED' || policy.endAt <= now) throw conflict(`policy ${policy.id} has ended`, { policyId: policy.id });
  const incident = await incidentPayingPolicy(ex, policy.allocations?.map((a) => a.id) ?? [policy.id]);
  if (incident)
    throw policyClaimed(
      `policy ${policy.id} is being paid by incident ${incident} to the address that held it when the incident confirmed: it cannot change hands`,
      { policyId: policy.id, incidentId: incident },
    );
}
