/**
 * Conv2DBackpropInput (dx of conv2d, and the forward of conv2dTranspose) for
 * wasm. The wasm kernel is a direct loop at ~3 GFLOP/s. dx is a forward
 * convolution, run by XNNPACK:
 *
 *   dx = conv2d(zeroInsert(dy, stride), flip(W) with in/out swapped, 'valid' after padding)
 *
 * where zeroInsert puts stride-1 zeros between dy's pixels (none for stride
 * 1) and the padding is `filter - 1 - forwardPad` before, whatever makes the
 * output `[H, W]` after.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KernelArgs, TensorInfo, asTensor, need, paddedConv2d, convGeometry, runOriginal } from './kernel-utils';

/** `[N, OH, OW, C]` -> `[N, OH*sh, OW*sw, C]` with dy at every `(sh, sw)`-th pixel, zeros elsewhere. */
function zeroInsert(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  const [n, oh, ow, c] = dy.shape;
  let d = dy;
  if (sw > 1) d = tf.concat([d, tf.zeros([n, oh, ow, (sw - 1) * c])], 3).reshape([n, oh, ow * sw, c]);
  if (sh > 1) {
    const row = ow * sw * c;
    d = tf.concat([d.reshape([n, oh, 1, row]), tf.zeros([n, oh, sh - 1, row])], 2).reshape([n, oh * sh, ow * sw, c]);
  }
  return d;
}

export function conv2dBackpropInputKernel(args: KernelArgs): tf.Tensor | TensorInfo {
  const dy = asTensor<tf.Rank.R4>(need(args, 'dy', 'Conv2DBackpropInput'), 'Conv2DBackpropInput dy');
  const filter = asTensor<tf.Rank.R4>(need(args, 'filter', 'Conv2DBackpropInput'), 'Conv2DBackpropInput filter');
  const attrs = args.attrs ?? {};
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = convGeometry('Conv2DBackpropInput', inputShape, filter.shape, attrs);
  const { top, left } = info.padInfo;
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  const [, h, w] = inputShape;
  const padT = fh - 1 - top;
  const padL = fw - 1 - left;
  const ud = dy.shape[1] * sh;
  const vd = dy.shape[2] * sw;
  const padB = h + fh - 1 - ud - padT;
  const padR = w + fw - 1 - vd - padL;
  if (padT < 0 || padL < 0 || dy.dtype !== 'float32') {
    return runOriginal('Conv2DBackpropInput', args.backend as BackendWasm, args.inputs, attrs);
  }
  return tf.tidy(() => {
    let d = zeroInsert(dy, sh, sw);
    if (padB < 0 || padR < 0) {
      d = tf.slice(d, [0, 0, 0, 0], [-1, ud + Math.min(padB, 0), vd + Math.min(padR, 0), -1]);
    }
    const wF = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]); // [fh, fw, Cout, Cin]
    return paddedConv2d(d, wF, [padT, Math.max(padB, 0), padL, Math.max(padR, 0)]);
  });
}
