/**
 * EIP-712 typed data that a PUSH feed's reporter signs: the feed id and the batch of
 * observations (value as the exact decimal string sent, time in unix seconds).
 */
export const pushDomain = { name: 'ParametricCover', version: '1' } as const;

export const pushTypes = {
  Observation: [
    { name: 'value', type: 'string' },
    { name: 'observedAt', type: 'uint64' },
  ],
  Observations: [
    { name: 'feedId', type: 'string' },
    { name: 'observations', type: 'Observation[]' },
  ],
} as const;

export function pushMessage(feedId: string, observations: ReadonlyArray<{ value: string; observedAt: number }>) {
  return {
    feedId,
    observations: observations.map((o) => ({ value: o.value, observedAt: BigInt(Math.floor(o.observedAt / 1000)) })),
  };
}
