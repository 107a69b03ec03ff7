import { readFileSync } from 'node:fs';

/** test/fixtures/chainlink-usdc-usd-2023-03.csv: Chainlink USDC/USD rounds, 8 decimals (source: test/fixtures/README.md). */
const FIXTURE = new URL('./fixtures/chainlink-usdc-usd-2023-03.csv', import.meta.url);

export function loadUsdcFixture() {
  return readFileSync(FIXTURE, 'utf8')
    .split('\n')
    .filter((l) => /^\d/.test(l))
    .map((l) => {
      const [roundId, answer, updatedAt] = l.split(',') as [string, string, string];
      const value = (BigInt(answer) < 0n ? '-' : '') + formatAnswer(BigInt(answer) < 0n ? -BigInt(answer) : BigInt(answer));
      return { roundId, value, at: Number(updatedAt) * 1000 };
    });
}

function formatAnswer(a: bigint): string {
  const s = a.toString().padStart(9, '0');
  return `${s.slice(0, -8)}.${s.slice(-8)}`.replace(/\.?0+$/, '');
}
