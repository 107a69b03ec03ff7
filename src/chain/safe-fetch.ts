import { lookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import { checkOutgoingCall } from './retry.ts';

/** Addresses a feed the server fetches must never reach: private, loopback, link-local and the like. */
const INTERNAL = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  INTERNAL.addSubnet(net, prefix, 'ipv6');
}

/** True for an address inside the machine or its private networks (IPv4-mapped IPv6 included). */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return INTERNAL.check(mapped, 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return INTERNAL.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Whether a URL's host may be fetched: a host on the allowlist always; an IP literal or
 * `localhost` only when it is not internal. (Names are checked again, after DNS, when the
 * connection is made: see createSafeFetch.)
 */
export function hostAllowed(url: URL, allowed: readonly string[]): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (allowed.includes(host)) return true;
  if (host === 'localhost' || host.endsWith('.localhost')) return false;
  return isIP(host) === 0 || !isInternalAddress(host);
}

export type SafeResponse = Awaited<ReturnType<typeof undiciFetch>>;

/**
 * fetch for URLs that come from users' configuration (HTTP feeds): the address is checked
 * after DNS resolution, at connect time, so neither a name pointing inside nor a
 * rebinding reaches an internal address; redirects are not followed. `allowed` hosts (and
 * their addresses) are exempt, for feeds an operator runs on a private network.
 */
export function createSafeFetch(
  allowed: readonly string[],
): (url: string, init?: { signal?: AbortSignal; headers?: Record<string, string> }) => Promise<SafeResponse> {
  const dispatcher = new Agent({
    connect: {
      lookup(hostname, options, callback) {
        lookup(hostname, { ...options, all: true }, (error, addresses) => {
          if (error) return callback(error, '', 4);
          const list = addresses as Array<{ address: string; family: number }>;
          const refused = !allowed.includes(hostname) && list.some((a) => isInternalAddress(a.address) && !allowed.includes(a.address));
          if (refused || list.length === 0) {
            return callback(Object.assign(new Error(`${hostname} resolves to an internal address`), { code: 'EINTERNAL' }), '', 4);
          }
          const first = list[0] as { address: string; family: number };
          if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
          return callback(null, first.address, first.family);
        });
      },
    },
  });
  return async (url, init = {}) => {
    checkOutgoingCall();
    const target = new URL(url);
    if (!hostAllowed(target, allowed)) throw Object.assign(new Error(`${target.hostname} is an internal address`), { permanent: true });
    return undiciFetch(url, { ...init, redirect: 'manual', dispatcher });
  };
}
