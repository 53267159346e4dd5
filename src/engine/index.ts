export * from './backend';
import { onBackendReady } from './backend';
import { installWasmKernels } from './wasm';
import { installNativeKernels } from './native';

// Native (OpenBLAS) kernels go last: they replace the wasm ones and fall back to them.
onBackendReady('wasm', () => [...installWasmKernels(), ...installNativeKernels()]);
export { nativeStatus, warnIfSlowPath, type NativeStatus } from './native';
export * from './adam';
export * from './leaks';
export * from './random';
export * from './checkpoint';
export * from './files';
export * from './progress';
