/** The paths the app serves by name; anything else (a dashboard file, a stray URL) is one bucket. */
const ROUTES = new Set(['/graphql', '/graphql/stream', '/healthz', '/livez', '/readyz', '/metrics', '/']);

/**
 * A request's route for labels that must stay bounded (metrics, span names): its path when it
 * is one of the app's routes, else `other`. Clients choose paths; the series they make must not grow with them.
 */
export function routeOf(path: string, other: string): string {
  return ROUTES.has(path) ? path : other;
}
