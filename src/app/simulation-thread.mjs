// Worker-thread entry: registers tsx (module hooks do not cross into workers on Node 20),
// then loads the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./simulation-worker.ts');
