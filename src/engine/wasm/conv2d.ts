/**
 * Conv2D for wasm, guarding the wasm kernel's wrong paddings: tfjs-backend-wasm
 * 4.22 gave wrong values for 'same' at stride > 1 when no padding is needed
 * (e.g. 9x9 input, 2x2 filter, stride 3: all zeros), and wrote out of bounds
 * for numeric pads with a non-square filter (see checkNumericPad). Zero
 * padding runs as 'valid'; 'same' at stride 1 goes straight to the wasm
 * kernel; other paddings are applied to x first and the conv runs 'valid'.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelArgs, TensorInfo, asTensor, convGeometry, need, runOriginal } from './kernel-utils';

/**
 * tfjs 4.22 sizes the output of a conv with a numeric pad from the filter
 * height and stride height alone (both axes); wasm then wrote past the end of
 * its output buffer. Refuse those cases by name.
 */
function checkNumericPad(info: tf.backend_util.Conv2DInfo, xShape: number[], pad: unknown): void {
  if (typeof pad !== 'number') return;
  const trueW = Math.floor((xShape[2] + 2 * pad - info.filterWidth) / info.strideWidth) + 1;
  if (trueW !== info.outWidth) {
    throw new Error(
      `conv2d with numeric pad ${pad}, filter ${info.filterHeight}x${info.filterWidth} and strides ` +
        `${info.strideHeight},${info.strideWidth}: tfjs computes width ${info.outWidth} instead of ${trueW}; ` +
        `pass explicit pads [[0,0],[t,b],[l,r],[0,0]] instead`,
    );
  }
}

export function conv2dKernel(args: KernelArgs): tf.Tensor | TensorInfo {
  const backend = args.backend as BackendWasm;
  const attrs = args.attrs ?? {};
  const xInfo = need(args, 'x', 'Conv2D');
  const fInfo = need(args, 'filter', 'Conv2D');
  const dil = attrs.dilations as number | [number, number] | undefined;
  const dilated = dil !== undefined && !(dil === 1 || (Array.isArray(dil) && dil[0] === 1 && dil[1] === 1));
  if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC' || xInfo.dtype !== 'float32') return runOriginal('Conv2D', backend, args.inputs, attrs);
  const info = dilated ? undefined : convGeometry('Conv2D', xInfo.shape as [number, number, number, number], fInfo.shape as [number, number, number, number], attrs);
  if (dilated) return runOriginal('Conv2D', backend, args.inputs, attrs);
  const { top, bottom, left, right } = info!.padInfo;
  checkNumericPad(info!, xInfo.shape, attrs.pad);
  if (top === 0 && bottom === 0 && left === 0 && right === 0) {
    return runOriginal('Conv2D', backend, args.inputs, { ...attrs, pad: 'valid' });
  }
  if (attrs.pad === 'same' && info!.strideHeight === 1 && info!.strideWidth === 1) {
    return runOriginal('Conv2D', backend, args.inputs, attrs);
  }
  const x = asTensor<tf.Rank.R4>(xInfo, 'Conv2D x');
  const filter = asTensor<tf.Rank.R4>(fInfo, 'Conv2D filter');
  return tf.tidy(() =>
    tf.conv2d(tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]), filter, [info!.strideHeight, info!.strideWidth], 'valid'),
  );
}
