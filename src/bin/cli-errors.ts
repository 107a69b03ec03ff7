/**
 * What a command-line tool says about an error its user can fix (no server at the URL, the
 * database missing, the data folder in use), in one line without a stack; null for anything
 * else, which is a fault and keeps its stack.
 */
export function explainError(error: unknown, context: { url?: string | undefined } = {}): string | null {
  type Cause = { code?: string; message?: string; errors?: Cause[]; cause?: Cause };
  const e = error as ({ message?: string } & Cause) | null;
  const message = e?.message ?? String(error);
  // fetch's TypeError carries the socket's error as its cause (an AggregateError when several addresses were tried).
  const codeOf = (c: Cause | undefined, depth = 0): string | undefined =>
    !c || depth > 5 ? undefined : (c.code ?? codeOf(c.errors?.[0], depth + 1) ?? codeOf(c.cause, depth + 1));
  const network = codeOf(e?.cause) ?? (message === 'fetch failed' ? 'unreachable' : undefined);
  if (message === 'fetch failed' || (context.url && /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|UND_ERR_CONNECT/.test(network ?? ''))) {
    return `no API answers at ${context.url ?? 'the URL'} (${network ?? 'unreachable'}): is the server running (npm start), and on that port? Point the tool at it with API=http://HOST:PORT/graphql`;
  }
  // PostgreSQL's codes (node-postgres puts them on the error).
  if (e?.code === '3D000')
    return `the database named in DATABASE_URL does not exist (${message}): create it (createdb NAME, or CREATE DATABASE) or fix the URL`;
  if (e?.code === '28P01' || e?.code === '28000') return `PostgreSQL refused the credentials in DATABASE_URL (${message})`;
  if (e?.code === 'ECONNREFUSED' || e?.code === 'ENOTFOUND')
    return `no PostgreSQL server answers at the host in DATABASE_URL (${e.code}): start it, fix the URL, or unset DATABASE_URL to use the embedded database`;
  if (
    /^invalid configuration:/.test(message) ||
    /is open in another process|already open in this process|restoring over it needs --force|^(backup|restore): /.test(message)
  )
    return message;
  return null;
}

/** Prints a user's error in one line (exit 1), or a fault with its stack (exit 1). */
export function exitWith(error: unknown, context: { url?: string | undefined } = {}): never {
  const explained = explainError(error, context);
  console.error(explained ?? error);
  process.exit(1);
}
