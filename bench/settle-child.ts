/**
 * One settlement in a process of its own, so that its peak memory is the settlement's alone:
 * `tsx bench/settle-child.ts DATABASE_URL INCIDENT_ID NOW_MS` prints
 * {"ms": ..., "maxRssMiB": ..., "paid": ...}.
 */
import { settleIncident } from '../src/app/settle-incident.ts';
import { createDatabase } from '../src/db/create-database.ts';
import { newWallet, testDeps } from '../test/helpers.ts';

const [url, incidentId, now] = process.argv.slice(2) as [string, string, string];
const db = await createDatabase({ url });
const { deps } = testDeps(db, { now: () => Number(now) }, newWallet().address);
const t = performance.now();
const settled = await settleIncident(deps, incidentId);
const ms = performance.now() - t;
await db.close();
console.log(JSON.stringify({ ms, maxRssMiB: process.resourceUsage().maxRSS / 1024, paid: settled?.policiesPaid ?? 0 }));
process.exit(0);
