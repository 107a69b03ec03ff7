import express from 'express';
import { type DemoFaucet, type DemoPerson, signInWithKey } from '../app/sign-in.ts';
import type { Deps } from '../app/deps.ts';
import { refused } from './errors.ts';
import { type AuthedRequest, authenticate } from './authenticate.ts';

/**
 * GET /demo/people lists the demo people; POST /demo/sessions {address} signs one in with
 * its key, through the ordinary Sign-In with Ethereum checks, and returns the session.
 * POST /demo/faucet, signed in: the faucet's money for the signed-in wallet, once.
 */
export function mountDemo(app: express.Express, deps: Deps, people: readonly DemoPerson[], faucet: DemoFaucet | undefined): void {
  if (deps.config.production) throw new Error('demo sessions sign in with public keys: they are never served in production');
  if (faucet) {
    app.post('/demo/faucet', authenticate(deps), async (req, res, next) => {
      const viewer = (req as AuthedRequest).auth?.viewer;
      if (!viewer) {
        refused(res, 'UNAUTHENTICATED', 'sign in first: the faucet funds the signed-in wallet');
        return;
      }
      try {
        const grant = await faucet(viewer.address);
        res.json({ credited: grant.credited.toString(), inWallet: grant.inWallet.toString(), alreadyFunded: grant.alreadyFunded });
      } catch (err) {
        next(err);
      }
    });
  }
  const byAddress = new Map(people.map((p) => [p.address.toLowerCase(), p]));
  app.get('/demo/people', (_req, res) => {
    res.json(people.map(({ name, address }) => ({ name, address })));
  });
  app.post('/demo/sessions', express.json({ limit: '1kb' }), async (req, res, next) => {
    const address: unknown = req.body?.address;
    const person = typeof address === 'string' ? byAddress.get(address.toLowerCase()) : undefined;
    if (!person) {
      refused(res, 'NOT_FOUND', 'address is not one of the demo people');
      return;
    }
    try {
      const host = req.get('host') ?? '';
      const origin = deps.config.siwe.domains.includes(host) ? `${req.protocol}://${host}` : `http://${deps.config.siwe.domains[0]}`;
      const session = await signInWithKey(deps, person.privateKey, origin, req.ip ?? 'unknown');
      res.json({
        token: session.token,
        expiresAt: new Date(session.expiresAt).toISOString(),
        address: session.account.address,
        name: person.name,
      });
    } catch (err) {
      next(err);
    }
  });
}
