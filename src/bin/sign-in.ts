import { privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';

/**
 * `npm run sign-in -- <privateKey> [graphqlUrl]`: Sign-In with Ethereum from the terminal.
 * Asks the API for a nonce, signs the EIP-4361 message for the API's own host with the
 * key, prints the token. The URL defaults to $API (or $API_URL), then the local default.
 */
async function main(): Promise<void> {
  const [key, given] = process.argv.slice(2);
  const url = given ?? process.env.API ?? process.env.API_URL ?? 'http://127.0.0.1:4000/graphql';
  if (!key || !/^0x[0-9a-fA-F]{64}$/.test(key)) {
    console.error('usage: npm run sign-in -- <0x-prefixed 32-byte private key> [graphql url]   (default: $API)');
    process.exit(2);
  }
  const call = async (query: string, variables: Record<string, unknown> = {}) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data ?? {};
  };
  const account = privateKeyToAccount(key as `0x${string}`);
  const { siweNonce } = (await call('mutation { siweNonce { nonce domain } }')) as { siweNonce: { nonce: string; domain: string } };
  const message = createSiweMessage({
    address: account.address,
    chainId: 1,
    domain: new URL(url).host,
    nonce: siweNonce.nonce,
    uri: new URL(url).origin,
    version: '1',
    statement: 'Sign in to the parametric cover marketplace.',
  });
  const signature = await account.signMessage({ message });
  const { signInWithEthereum } = (await call(
    'mutation($m: String!, $s: String!) { signInWithEthereum(message: $m, signature: $s) { token account { address roles } } }',
    { m: message, s: signature },
  )) as { signInWithEthereum: { token: string; account: { address: string; roles: string[] } } };
  console.error(`signed in as ${signInWithEthereum.account.address} (roles: ${signInWithEthereum.account.roles.join(', ') || 'none'})`);
  console.log(signInWithEthereum.token);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
