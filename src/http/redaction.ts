/** Request fields no log line may carry: credentials and cookies (kept apart from the app so the watcher needs no HTTP stack to log). */
export const REDACTED_LOG_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
];
