/**
 * Conv2DBackpropFilter for wasm (tfjs-backend-wasm has none, so conv2d
 * cannot train there).
 *
 *   dW[i, j, ci, co] = sum_{n, oh, ow} xpad[n, oh*sh + i, ow*sw + j, ci] * dy[n, oh, ow, co]
 *
 * is itself a convolution, run by XNNPACK: the input is x with channels as
 * the batch, `[Cin, H, W, N]`; the filter is dy, `[OH, OW, N, Cout]`, with
 * dilation = the forward stride; the output `[Cin, fh, fw, Cout]` is
 * transposed to `[fh, fw, Cin, Cout]`.
 */
import * as tf from '@tensorflow/tfjs';
import { KernelArgs, asTensor, need, paddedConv2d, convGeometry } from './kernel-utils';

export function conv2dBackpropFilterKernel(args: KernelArgs): tf.Tensor {
  const x = asTensor<tf.Rank.R4>(need(args, 'x', 'Conv2DBackpropFilter'), 'Conv2DBackpropFilter x');
  const dy = asTensor<tf.Rank.R4>(need(args, 'dy', 'Conv2DBackpropFilter'), 'Conv2DBackpropFilter dy');
  const attrs = args.attrs ?? {};
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = convGeometry('Conv2DBackpropFilter', x.shape, filterShape, attrs);
  const { top, bottom, left, right } = info.padInfo;
  const [fh, fw, cin, cout] = filterShape;
  return tf.tidy(() => {
    const xT = tf.transpose(x, [3, 1, 2, 0]); // [Cin, H, W, N]
    const dyT = tf.transpose(dy, [1, 2, 0, 3]); // [OH, OW, N, Cout]
    let r = paddedConv2d(xT, dyT, [top, bottom, left, right], [info.strideHeight, info.strideWidth]); // [Cin, >=fh, >=fw, Cout]
    if (r.shape[1] !== fh || r.shape[2] !== fw) r = tf.slice(r, [0, 0, 0, 0], [cin, fh, fw, cout]);
    return tf.transpose(r, [1, 2, 0, 3]);
  });
}
