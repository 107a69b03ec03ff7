import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { after, before, test } from 'node:test';
import { settleIncident } from '../src/app/settle-incident.ts';
import { closeApp } from '../src/http/create-app.ts';
import { type Harness, USDC, createHarness, fundedBuyer, insuredMarket, serve, waitFor } from './helpers.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });
const sizeOf = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce(
    (sum, e) => sum + (e.isDirectory() ? sizeOf(join(dir, e.name)) : statSync(join(dir, e.name)).size),
    0,
  );

let h: Harness;
let served: Awaited<ReturnType<typeof serve>>;
let project: string;
let child: ChildProcess | undefined;
before(async () => {
  h = await createHarness();
  served = await serve(h.app);
  project = mkdtempSync(join(tmpdir(), 'sdk-user-'));
});
after(async () => {
  child?.kill('SIGKILL');
  served?.close();
  await closeApp(h.app);
  await h.close();
  rmSync(project, { recursive: true, force: true });
});

/**
 * The SDK as an integrator gets it (issue 36): `npm run sdk:pack` builds sdk/ and packs it,
 * an empty project installs the tarball (with viem, for a signer) and plain `node` runs an ES
 * module against the running API: sign in, quote, buy, follow the payout live; TypeScript
 * type-checks a use of it; the package is small and has no runtime dependencies.
 */
test('the packed SDK installs into an empty project and works with plain Node against the API', async () => {
  // As docs/client.md says: `npm run -s sdk:pack` builds, packs and prints the tarball's path.
  const tarball = npm(['run', '-s', 'sdk:pack'], ROOT).trim().split('\n').pop() as string;
  assert.ok(isAbsolute(tarball) && tarball.endsWith('.tgz'), tarball);
  const packed = statSync(tarball).size;
  assert.ok(packed < 200_000, `the tarball is ${packed} bytes`);
  const manifest = JSON.parse(readFileSync(join(ROOT, 'sdk/package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.deepEqual(Object.keys(manifest.dependencies), ['@graphql-typed-document-node/core'], 'types only at run time');

  const viem = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies.viem;
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sdk-user', private: true, type: 'module' }));
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `viem@${viem}`], project);
  const installed = sizeOf(join(project, 'node_modules/@parametric-cover/client'));
  assert.ok(installed < 1_000_000, `installed, the SDK takes ${installed} bytes`);

  // TypeScript sees its types (the client, the generated operations, the ABI as const).
  writeFileSync(
    join(project, 'check.ts'),
    `import { createCoverClient, type CoverClient, CoverApiError, type ErrorCode, RETRYABLE_CODES, pushTypes } from '@parametric-cover/client';
import { treasuryAbi } from '@parametric-cover/client/abi';
const api: CoverClient = createCoverClient({ url: 'http://127.0.0.1:1/graphql' });
const pay = treasuryAbi.find((x) => x.type === 'function' && x.name === 'pay');
export const shown: [typeof api.quote, typeof pay, typeof pushTypes.Observation] = [api.quote, pay, pushTypes.Observation];
// The error codes are a union a client can switch over.
export function retry(e: CoverApiError): boolean {
  const code: ErrorCode = e.code;
  return code === 'UNAVAILABLE' || RETRYABLE_CODES.has(code);
}
export const helpers = [api.estimate, api.incidents, api.signOut, api.risk];
`,
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        lib: ['es2023', 'dom'],
        skipLibCheck: false,
        types: [],
      },
      files: ['check.ts'],
    }),
  );
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], { cwd: project, stdio: 'pipe' });

  // Plain Node, no loader: sign in, quote, buy, then the payout arrives on the live stream.
  // The script signs in with the wall clock's time: the market is set up at it too.
  h.clock.catchUpWithWallClock();
  const m = await insuredMarket(h, USDC(100_000), `sdk ${Math.random()}`);
  const buyer = await fundedBuyer(h, await h.signIn(h.admin), USDC(1_000));
  writeFileSync(
    join(project, 'use.mjs'),
    `import { createCoverClient, pushTypes } from '@parametric-cover/client';
import { treasuryAbi, treasuryBytecode } from '@parametric-cover/client/abi';
import { privateKeyToAccount } from 'viem/accounts';
const api = createCoverClient({ url: process.env.API });
const estimate = await api.estimate(process.env.RISK, 1_000_000_000n, 30);
const down = await createCoverClient({ url: 'http://127.0.0.1:1/graphql' }).risks().catch((e) => e.code);
const session = await api.signIn(privateKeyToAccount(process.env.KEY));
const room = await api.capacity(process.env.RISK, 30);
const quote = await api.quote(process.env.RISK, 1_000_000_000n, 30);
const policy = await api.buy(quote.id);
const live = api.payoutsLive(new Date(Date.now() - 1000));
console.log(JSON.stringify({ address: session.account.address, salesOpen: room.salesOpen, policy: policy.id, status: policy.status,
  pay: treasuryAbi.some((x) => x.name === 'pay'), bytecode: treasuryBytecode.length, push: Object.keys(pushTypes) }));
for await (const { policyPaid } of live) {
  if (policyPaid.policyId === policy.id) { console.log(JSON.stringify({ paid: policyPaid.paid })); break; }
}
const incidents = await api.incidents(process.env.RISK);
await api.signOut();
const after = await api.me().then(() => 'still signed in', (e) => e.code);
console.log(JSON.stringify({ estimate: estimate.total, down, incidents: incidents.nodes.length, after }));
`,
  );
  const lines: Array<Record<string, unknown>> = [];
  let errors = '';
  child = spawn(process.execPath, ['use.mjs'], {
    cwd: project,
    env: { PATH: process.env.PATH ?? '', API: served.url, KEY: buyer.wallet.key, RISK: m.risk.id },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  await waitFor(
    'the policy bought through the SDK',
    () => {
      if (child?.exitCode !== null && child?.exitCode !== undefined) throw new Error(`the script exited ${child.exitCode}: ${errors}`);
      return lines.length >= 1;
    },
    30_000,
  );
  const bought = lines[0] as {
    address: string;
    salesOpen: boolean;
    status: string;
    pay: boolean;
    bytecode: number;
    push: string[];
    policy: string;
  };
  assert.deepEqual(
    { address: bought.address, salesOpen: bought.salesOpen, status: bought.status, pay: bought.pay, push: bought.push },
    { address: buyer.wallet.address, salesOpen: true, status: 'ACTIVE', pay: true, push: ['Observation', 'Observations'] },
  );
  assert.ok(bought.bytecode > 1_000);
  await new Promise((r) => setTimeout(r, 300));
  await settleIncident(h.deps, await m.depeg());
  await waitFor('the payout on the SDK stream', () => lines.length >= 2, 30_000);
  assert.ok(BigInt((lines[1] as { paid: string }).paid) > 0n);
  await waitFor('the anonymous estimate, incidents and sign-out', () => lines.length >= 3, 30_000);
  const last = lines[2] as { estimate: string; down: string; incidents: number; after: string };
  assert.ok(BigInt(last.estimate) > 0n, 'an anonymous estimate');
  assert.equal(last.down, 'NETWORK_ERROR', 'an API that cannot be reached is a typed error');
  assert.equal(last.incidents, 1);
  assert.equal(last.after, 'UNAUTHENTICATED', 'signed out');
});
