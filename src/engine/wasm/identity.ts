/**
 * Identity (tf.clone, and every tensor the engine saves for a gradient) as a
 * new reference to the same data, as Reshape does, instead of wasm's copy:
 * tensors are immutable (a variable's assign replaces its data, never writes
 * it), so sharing is safe. About 650 copies of activations and weights per
 * update of the default UNet (~18 ms) disappear.
 */
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';

interface RefCountingBackend {
  incRef(dataId: object): void;
}

export const identityKernel: KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as TensorInfo;
  (backend as unknown as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
};
