import type { Viewer } from '../app/viewer.ts';
import { BaseError } from '../domain/errors.ts';
import { ADMIN_COMMANDS, UsageError, adminHelp, parseAdminArgs, renderOutput, runAdminCommand } from './admin-commands.ts';
import { configFromEnv, createRuntime } from './runtime.ts';

/**
 * `npm run admin -- <command>`: the operator's daily work from a shell (list risks, override a
 * score, fund the backstop, record a recovery, assign a deposit, rotate the session key),
 * through the same use cases as the API. Exit codes: 0 done, 1 refused (the use case's code
 * and message), 2 a mistake in the command line.
 */
async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseAdminArgs>;
  try {
    parsed = parseAdminArgs(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    console.error(adminHelp().join('\n'));
    return 2;
  }
  if (parsed.command === 'help') {
    console.log(adminHelp().join('\n'));
    return 0;
  }
  const command = ADMIN_COMMANDS[parsed.command ?? ''];
  if (!command) {
    console.error(`${parsed.command ? `unknown command: ${parsed.command}\n` : ''}${adminHelp().join('\n')}`);
    return 2;
  }
  const config = configFromEnv();
  const wanted = (parsed.as ?? config.app.admins[0] ?? '').toLowerCase();
  const address = config.app.admins.find((a) => a.toLowerCase() === wanted);
  if (!address) {
    console.error(`--as ${parsed.as}: not one of ADMIN_ADDRESSES`);
    return 2;
  }
  const admin: Viewer = { address, roles: ['admin'] };
  const runtime = command.database ? await createRuntime({ ...config, logLevel: 'error' }, { logToStderr: true }) : undefined;
  try {
    const output = await runAdminCommand(parsed.command as string, parsed.args, {
      ...(runtime ? { deps: runtime.deps } : {}),
      admin,
      env: process.env,
    });
    console.log(renderOutput(output, parsed.json));
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      return 2;
    }
    if (error instanceof BaseError) {
      console.error(`refused (${error.code}): ${error.message}`);
      return 1;
    }
    throw error;
  } finally {
    await runtime?.deps.db.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
