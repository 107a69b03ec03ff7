import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/** A service of docker-compose.yml, as far as the tests read it. */
export interface ComposeService {
  image?: string;
  build?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  expose?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

/** The variables the stack requires (secrets have no defaults), as an operator sets them. */
export const COMPOSE_ENV: Record<string, string | undefined> = {
  ...process.env,
  JWT_SECRET: 'x'.repeat(32),
  ADMIN_ADDRESSES: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  METRICS_TOKEN: 'm'.repeat(32),
  GRAFANA_ADMIN_PASSWORD: 'g'.repeat(16),
};
const COMPOSE = new URL('../docker-compose.yml', import.meta.url);

/**
 * Compose's variable interpolation (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
 * ${VAR?error}, $$), as the specification defines it, so the file can be checked without
 * the docker-compose binary.
 */
function interpolate(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, name, colon, op, arg, bare) => {
      if (match === '$$') return '$';
      if (bare) return vars[bare] ?? '';
      const value = vars[name as string];
      const missing = colon ? value === undefined || value === '' : value === undefined;
      if (op === '-') return missing ? (arg as string) : (value as string);
      if (op === '?') {
        if (missing) throw new Error(`required variable ${name} is missing: ${arg}`);
        return value as string;
      }
      return value ?? '';
    },
  );
}

/**
 * The file as Compose reads it: YAML first (anchors and merge keys), then each string value
 * interpolated, so that `KEY: ${VAR:-}` is the empty string (interpolating the text first
 * would leave `KEY:` with no value, which YAML reads as null).
 */
export function loadCompose(vars: Record<string, string | undefined>) {
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') return interpolate(value, vars);
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
    return value;
  };
  return walk(parse(readFileSync(COMPOSE, 'utf8'), { merge: true })) as { services: Record<string, ComposeService> };
}
