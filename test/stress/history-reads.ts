// Opt-in measurement (issue 42): after one 100,000-point import, how long an anonymous
// operation asking for a risk's history and sources under 15 aliases takes, first and again.
// Run: npm run stress:history
import { createHarness, MODEL_PRICING, watchedRisk } from '../helpers.ts';

const DAY = 86_400_000;
const h = await createHarness({ pricing: MODEL_PRICING });
try {
  const admin = await h.signIn(h.admin);
  const risk = await watchedRisk(h, admin);
  const feedId = (await h.ok(`query($r: ID!) { risk(id: $r) { feeds { id } } }`, { r: risk.id })).risk.feeds[0].id;
  const start = Math.floor(h.clock.now() / DAY) * DAY - 700 * DAY;
  const observations = Array.from({ length: 100_000 }, (_, i) => ({
    value: (1 + ((i % 7) - 3) / 10_000).toFixed(6),
    observedAt: new Date(start + i * 600_000).toISOString(),
  }));
  let t = performance.now();
  await h.ok(
    `mutation($f: ID!, $o: [ObservationInput!]!) { importFeedHistory(feedId: $f, source: "bench", observations: $o) { added } }`,
    { f: feedId, o: observations },
    admin,
  );
  console.log(`import of 100,000 points: ${(performance.now() - t).toFixed(0)} ms`);
  const aliases = Array.from(
    { length: 15 },
    (_, i) => `a${i}: risk(id: $r) { history(first: 20) { days sources { source points } nodes { at value } } }`,
  );
  const query = `query($r: ID!) { ${aliases.join(' ')} }`;
  for (const label of ['first read', 'second read', 'third read']) {
    t = performance.now();
    await h.ok(query, { r: risk.id });
    console.log(`${label}, 15 aliases, anonymous: ${(performance.now() - t).toFixed(0)} ms`);
  }
} finally {
  await h.close();
}
