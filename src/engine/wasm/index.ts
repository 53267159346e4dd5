/**
 * The kit's kernels for the wasm backend: gradient kernels tfjs-backend-wasm
 * lacks, and fast compositions that replace its slow paths. Each is checked
 * against the cpu backend in test/engine/wasm/.
 */

/** Register every kit kernel on the (already active) wasm backend; returns their names. */
export function installWasmKernels(): string[] {
  return [];
}
