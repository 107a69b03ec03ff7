// A worker thread of the wasm churn stress (wasm-churn.ts): registers tsx in the worker, as the
// loss simulator's thread does, and imports most of the server's modules, so that tsx's
// WebAssembly lexer parses every file (its code tiering up) until the thread is terminated.
import { register } from 'tsx/esm/api';

register();
await import(`../../src/http/create-app.ts?${Math.random()}`);
await import(`../../src/bin/runtime.ts?${Math.random()}`);
