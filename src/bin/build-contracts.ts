import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS_DIR, CONTRACTS_DIR, PLATFORM_CONTRACTS } from '../chain/artifacts.ts';
import { compileContracts } from '../chain/compile.ts';

/**
 * `npm run contracts`: compiles contracts/*.sol with solc-js into contracts/artifacts/<name>.json
 * (ABI, bytecode, compiler, input hash), which deployments and the SDK read: nothing compiles
 * at run time. Run it after changing a contract; test/production-build.test.ts fails until then.
 */
const compiled = compileContracts(CONTRACTS_DIR, PLATFORM_CONTRACTS);
for (const name of PLATFORM_CONTRACTS) {
  const file = join(ARTIFACTS_DIR, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(compiled[name], null, 2)}\n`);
  console.log(`${file}: ${(compiled[name]?.bytecode.length ?? 2) / 2 - 1} bytes of bytecode`);
}
