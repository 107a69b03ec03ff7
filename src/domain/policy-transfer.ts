import { pushDomain } from './push-typed-data.ts';

/**
 * EIP-712 typed data a policy's holder signs to hand it to another address (docs/design.md
 * §6, "Policies change hands"): the policy, who gives it and to whom, the policy's transfer
 * count (`nonce`: a signature is good for one transfer, never replayed) and a deadline (unix
 * seconds) after which it is refused. The domain binds a signature to one chain and one
 * deployment (issue 57): `chainId` is the chain whose wallet signs (a contract wallet is asked
 * there), `verifyingContract` the deployment's treasury, or an address derived from its
 * secret where money stays in the ledger; a copy of the data elsewhere cannot replay it.
 */
export const POLICY_TRANSFER_DOMAIN_NAME = 'ParametricCover';
export const POLICY_TRANSFER_DOMAIN_VERSION = '2';

export interface PolicyTransferDomain {
  name: string;
  version: string;
  chainId: number;
  verifyingContract: `0x${string}`;
}

export function policyTransferDomain(chainId: number, verifyingContract: `0x${string}`): PolicyTransferDomain {
  return { name: POLICY_TRANSFER_DOMAIN_NAME, version: POLICY_TRANSFER_DOMAIN_VERSION, chainId, verifyingContract };
}

/**
 * The domain before issue 57, the one PUSH feeds' reporters still sign under, bound to no chain
 * or deployment: a transfer signed under it is refused, with a message saying so.
 */
export const retiredPolicyTransferDomain = pushDomain;

export const policyTransferTypes = {
  PolicyTransfer: [
    { name: 'policyId', type: 'string' },
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'nonce', type: 'uint64' },
    { name: 'deadline', type: 'uint64' },
  ],
} as const;

export type PolicyTransferMessage = {
  policyId: string;
  from: `0x${string}`;
  to: `0x${string}`;
  nonce: bigint;
  deadline: bigint;
};

/**
 * A capital provider's signature handing `shares` free shares of a pool tranche to another
 * address (issue 59), under the same deployment domain as a policy's transfer. `nonce` is the
 * count of the position's transfers out so far: a signature moves shares once.
 */
export const positionTransferTypes = {
  PositionTransfer: [
    { name: 'poolId', type: 'string' },
    { name: 'tranche', type: 'string' },
    { name: 'shares', type: 'uint256' },
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'nonce', type: 'uint64' },
    { name: 'deadline', type: 'uint64' },
  ],
} as const;

export type PositionTransferMessage = {
  poolId: string;
  tranche: string;
  shares: bigint;
  from: `0x${string}`;
  to: `0x${string}`;
  nonce: bigint;
  deadline: bigint;
};
