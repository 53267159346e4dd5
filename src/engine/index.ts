export * from './backend';
import { onBackendReady } from './backend';
import { installWasmKernels } from './wasm';

onBackendReady('wasm', installWasmKernels);
export * from './leaks';
export * from './random';
export * from './checkpoint';
export * from './progress';
