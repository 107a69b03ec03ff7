import { type Address, getAddress, isAddress, zeroAddress } from 'viem';
import { badInput, forbidden, unauthenticated } from '../domain/errors.ts';
import type { Deps } from './deps.ts';

/** Who is asking: the signed-in account (a Viewer) and its roles, and what it may act on. */

export type Role = 'admin';

export interface Viewer {
  address: string;
  roles: Role[];
  /** The session a verified token proves (absent for viewers made in-process). */
  session?: { version: number; expiresAt: number };
}

/** The roles an address holds: admin when configured as one. */
export function rolesOf(deps: Deps, address: string): Role[] {
  return deps.config.admins.includes(address) ? ['admin'] : [];
}

/** Whether an address (any case) is configured as an admin's. */
export function isAdminAddress(deps: Deps, address: string): boolean {
  return isAddress(address, { strict: false }) && rolesOf(deps, getAddress(address)).includes('admin');
}

export function normaliseAddress(value: string, field = 'address'): string {
  if (typeof value !== 'string' || !isAddress(value, { strict: false })) {
    throw badInput(`${field} must be a 0x-prefixed 20-byte hex address`, { field });
  }
  return getAddress(value);
}

/** An address money or a position is sent to: any case, checksummed, never the zero address. */
export function recipientAddress(value: string, field: string): Address {
  if (typeof value !== 'string' || !isAddress(value, { strict: false }) || getAddress(value) === zeroAddress)
    throw badInput(`${field} must be an address (0x and 40 hex digits), not the zero address`, { field });
  return getAddress(value);
}

export function requireViewer(viewer: Viewer | null): Viewer {
  if (!viewer) throw unauthenticated('sign in with Ethereum first');
  return viewer;
}

export function requireAdmin(viewer: Viewer | null): Viewer {
  const v = requireViewer(viewer);
  if (!v.roles.includes('admin')) throw forbidden('this operation is for admins');
  return v;
}

/** The address a request is about: the viewer's own when absent. */
export type Subject = string | null | undefined;

/** The viewer may act for `address` if it is their own, or if they are an admin. */
export function resolveSubject(viewer: Viewer | null, address: Subject): string {
  const v = requireViewer(viewer);
  if (address == null) return v.address;
  const subject = normaliseAddress(address);
  if (subject !== v.address && !v.roles.includes('admin')) throw forbidden('you can only act on your own account');
  return subject;
}
