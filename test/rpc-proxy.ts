import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with each JSON-RPC request: pass it on, hold it (a hung node), or pass it on late. */
export type ProxyMode = { kind: 'pass' } | { kind: 'hang' } | { kind: 'delay'; ms: number };

export interface RpcProxy {
  url: string;
  setMode(mode: ProxyMode): void;
  /** Requests held so far (answered never, or late). */
  readonly held: number;
  /** Delayed requests whose answer is not delivered yet. */
  pending(): number;
  close(): Promise<void>;
}

/**
 * A JSON-RPC proxy in front of a node, in the test process: a real socket that a watcher and
 * an API use as their RPC URL, and that the test makes hang (accept the request, never
 * answer) or answer late, as a node under trouble does.
 */
export async function startRpcProxy(target: string): Promise<RpcProxy> {
  let mode: ProxyMode = { kind: 'pass' };
  let held = 0;
  let delayed = 0;
  const hanging = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = async () => {
        try {
          const answer = await fetch(target, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: Buffer.concat(chunks),
          });
          const body = Buffer.from(await answer.arrayBuffer());
          res.writeHead(answer.status, { 'content-type': 'application/json' });
          res.end(body);
        } catch {
          res.destroy();
        }
      };
      const current = mode;
      if (current.kind === 'pass') return void forward();
      held++;
      if (current.kind === 'delay') {
        delayed++;
        return void setTimeout(() => void forward().finally(() => delayed--), current.ms);
      }
      // Hung: the connection stays open without an answer until the mode changes or the proxy closes.
      const release = () => {
        hanging.delete(release);
        res.destroy();
      };
      hanging.add(release);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setMode(next) {
      mode = next;
      if (next.kind !== 'hang') for (const release of [...hanging]) release();
    },
    get held() {
      return held;
    },
    pending: () => delayed,
    async close() {
      for (const release of [...hanging]) release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
