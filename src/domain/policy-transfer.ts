import { pushDomain } from './push-typed-data.ts';

/**
 * EIP-712 typed data a policy's holder signs to hand it to another address (docs/design.md
 * §6, "Policies change hands"): the policy, who gives it and to whom, the policy's transfer
 * count (`nonce`: a signature is good for one transfer, never replayed) and a deadline (unix
 * seconds) after which it is refused. The domain is the platform's, as for pushes.
 */
export const policyTransferDomain = pushDomain;

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
