import { privateKeyToAccount } from 'viem/accounts';
import { createCoverClient } from '../client/index.ts';
import { explainError } from './cli-errors.ts';

/**
 * `npm run sign-in -- <privateKey> [graphqlUrl]`: Sign-In with Ethereum from the terminal.
 * The typed client (src/client) asks the API for a nonce and signs the EIP-4361 message for
 * the API's own host with the key; this prints the token. The URL defaults to $API (or $API_URL), then the local default.
 */
async function main(): Promise<void> {
  const [key, given] = process.argv.slice(2);
  const url = given ?? process.env.API ?? process.env.API_URL ?? 'http://127.0.0.1:4000/graphql';
  target = url;
  if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key)) {
    console.error('usage: npm run sign-in -- <0x-prefixed 32-byte private key> [graphql url]   (default: $API)');
    process.exit(2);
  }
  const session = await createCoverClient({ url }).signIn(privateKeyToAccount(key as `0x${string}`));
  console.error(`signed in as ${session.account.address} (roles: ${session.account.roles.join(', ') || 'none'})`);
  console.log(session.token);
}

/** The API this run talks to, for the error message when nothing answers there. */
let target: string | undefined;

main().catch((error: unknown) => {
  console.error(explainError(error, { url: target }) ?? (error instanceof Error ? error.message : error));
  process.exit(1);
});
