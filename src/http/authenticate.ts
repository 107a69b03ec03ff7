import type express from 'express';
import { bearer } from './bearer.ts';
import type { Viewer } from '../app/viewer.ts';
import { verifySessionToken } from '../app/sessions.ts';
import type { Deps } from '../app/deps.ts';

/** What the authentication middleware learned about the request (see `authenticate`). */
export interface Authenticated {
  viewer: Viewer | null;
  /** A token that was present but invalid: refused by the API rather than ignored. */
  authError?: unknown;
}
export type AuthedRequest = express.Request & { auth?: Authenticated };

export function authenticate(deps: Deps): express.RequestHandler {
  return (req, _res, next) => {
    const token = bearer(req.headers.authorization);
    const authed = req as AuthedRequest;
    if (token === null) {
      authed.auth = { viewer: null };
      next();
      return;
    }
    verifySessionToken(deps, token).then(
      (viewer) => {
        authed.auth = { viewer };
        next();
      },
      (error: unknown) => {
        authed.auth = { viewer: null, authError: error };
        next();
      },
    );
  };
}
