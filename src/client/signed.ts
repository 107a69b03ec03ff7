import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { policyTransferTypes, positionTransferTypes } from '../domain/policy-transfer.ts';
import { pushDomain, pushMessage, pushTypes } from '../domain/push-typed-data.ts';
import {
  PolicyTransferDomainDocument,
  SubmitObservationsDocument,
  type TrancheName,
  TransferPolicyDocument,
  TransferPositionDocument,
} from './generated/graphql.ts';

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

/** How the client runs a typed operation (CoverClient.request). */
export type Request = <TResult, TVariables>(document: TypedDocumentNode<TResult, TVariables>, variables?: TVariables) => Promise<TResult>;

/** The operations a wallet signs before they are sent: transfers of policies and positions (EIP-712), and a feed's observations. */
export function signedOperations(request: Request) {
  const transferDomain = (chainId?: number) =>
    request(PolicyTransferDomainDocument, { chainId: chainId ?? null }).then((r) => r.policyTransferDomain);
  /** Signs a transfer under the server's transfer domain for `chainId`: the signature and the chain it names. */
  const signTransfer = async (
    signer: Signer,
    chainId: number | undefined,
    typed: { types: object; primaryType: string; message: object },
  ) => {
    const domain = await transferDomain(chainId);
    const signature: Hex = await signer.signTypedData({
      domain: { ...domain, verifyingContract: domain.verifyingContract as Hex },
      ...typed,
    });
    return { signature, chainId: domain.chainId };
  };

  return {
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
      const signed = await signTransfer(holder, chainId, {
        types: policyTransferTypes,
        primaryType: 'PolicyTransfer',
        message: { policyId: policy.id, from: policy.holder, to, nonce: BigInt(policy.transferNonce), deadline: BigInt(seconds) },
      });
      return (await request(TransferPolicyDocument, { policyId: policy.id, to, deadline: seconds, ...signed })).transferPolicy;
    },
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
      const message = {
        poolId: position.poolId,
        tranche: position.tranche,
        shares: BigInt(shares),
        from: position.owner,
        to,
        nonce: BigInt(position.transferNonce),
        deadline: BigInt(seconds),
      };
      const signed = await signTransfer(owner, chainId, { types: positionTransferTypes, primaryType: 'PositionTransfer', message });
      return (
        await request(TransferPositionDocument, {
          poolId: position.poolId,
          tranche: position.tranche,
          shares: message.shares.toString(),
          from: position.owner,
          to,
          deadline: seconds,
          ...signed,
        })
      ).transferPosition;
    },
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
  };
}
