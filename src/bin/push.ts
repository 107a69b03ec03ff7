import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { pushDomain, pushMessage, pushTypes } from '../domain/push-typed-data.ts';
import { explainError } from './cli-errors.ts';

/**
 * `npm run push -- [--url <endpoint>] <reporterKey> <feedId> <value>[@<unixSeconds>] ...`:
 * signs observations for a PUSH feed with EIP-712, as an integrator's service would, and
 * submits them to `--url`, else $API. Without @time an observation is stamped now (one
 * second apart for several values). The feed accepts only times newer than its last, so the
 * signer never stamps a second it already used for the feed: a push in the same second as the
 * previous one waits for the next second (the last second used is kept per feed in the
 * system's temporary folder).
 */
const STAMPS = join(tmpdir(), 'parametric-cover-push');

function lastStamped(feedId: string): number {
  try {
    return Number(readFileSync(join(STAMPS, feedId.replace(/[^\w-]/g, '_')), 'utf8')) || 0;
  } catch {
    return 0;
  }
}

function recordStamp(feedId: string, second: number): void {
  mkdirSync(STAMPS, { recursive: true });
  writeFileSync(join(STAMPS, feedId.replace(/[^\w-]/g, '_')), String(second));
}
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = args[0] === '--url' ? args.splice(0, 2)[1] : undefined;
  const [key, feedId, ...values] = args;
  const url = flag ?? process.env.API ?? process.env.API_URL ?? 'http://127.0.0.1:4000/graphql';
  target = url;
  if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key) || !feedId || values.length === 0) {
    console.error(
      'usage: npm run push -- [--url <endpoint>] <0x reporter key> <feedId> <value>[@<unix seconds>] ...   (default endpoint: $API)',
    );
    process.exit(2);
  }
  const stamped = values.filter((v) => !v.includes('@')).length;
  // The first of the stamped values must come after the last second used for this feed.
  const earliest = lastStamped(feedId) + stamped;
  while (Math.floor(Date.now() / 1000) < earliest) await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
  const now = Math.floor(Date.now() / 1000);
  if (stamped > 0) recordStamp(feedId, now);
  const observations = values.map((v, i) => {
    const [value, at] = v.split('@') as [string, string | undefined];
    return { value, observedAt: (at ? Number(at) : now - (values.length - 1 - i)) * 1000 };
  });
  const signature = await privateKeyToAccount(key as `0x${string}`).signTypedData({
    domain: pushDomain,
    types: pushTypes,
    primaryType: 'Observations',
    message: pushMessage(feedId, observations),
  });
  const query = `mutation($f: ID!, $o: [ObservationInput!]!, $s: String!) {
    submitObservations(feedId: $f, observations: $o, signature: $s) { accepted incidents { id status settlementValue payoutRatio } } }`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query,
      variables: {
        f: feedId,
        o: observations.map((o) => ({ value: o.value, observedAt: new Date(o.observedAt).toISOString() })),
        s: signature,
      },
    }),
  });
  console.log(JSON.stringify(await res.json()));
}

/** The API this run talks to, for the error message when nothing answers there. */
let target: string | undefined;

main().catch((error: unknown) => {
  console.error(explainError(error, { url: target }) ?? (error instanceof Error ? error.message : error));
  process.exit(1);
});
