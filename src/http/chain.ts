import type express from 'express';

/**
 * Express handlers run in order as one handler: what an `express.Router` of path-less `use`
 * layers does, without the router's work between them (matching each layer's path, trimming
 * and restoring the URL around it), which on the GraphQL path cost a request more than the
 * handlers themselves (bench/RESULTS.md). An error, thrown, passed to `next` or a rejected
 * promise, goes to the handler after the chain, as in a router.
 */
export function chain(...handlers: express.RequestHandler[]): express.RequestHandler {
  return (req, res, done) => {
    let at = 0;
    const next: express.NextFunction = (error?: unknown) => {
      if (error !== undefined && error !== null) return done(error);
      const handler = handlers[at++];
      if (!handler) return done();
      try {
        const returned = handler(req, res, next) as unknown;
        if (returned instanceof Promise) returned.catch(done);
      } catch (thrown) {
        done(thrown);
      }
    };
    next();
  };
}
