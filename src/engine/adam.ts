/**
 * Adam, as tf.train.adam, with the update fused into one native kernel per
 * weight where the native kernels serve the wasm backend.
 *
 * tfjs's AdamOptimizer runs 14 elementwise kernels and 3 assignments per
 * weight (about 2,800 kernel calls per update of the default UNet's 166
 * weights, each a full pass over the weight, on one thread). The native kernel
 * does the same float32 operations in the same order in one pass on all
 * threads, so the weights, moments and checkpoints are those of
 * tf.train.adam, bit for bit (test/engine/native/adam.test.ts). Elsewhere (cpu,
 * tensorflow, or no addon) it is tf.train.adam itself.
 */
import * as tf from '@tensorflow/tfjs';
import { FUSED_ADAM_KERNEL } from './native';

/** The AdamOptimizer state the fused update reads and writes (protected in tfjs's typings). */
interface AdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Array<{ originalName: string; variable: tf.Variable } | undefined>;
  accumulatedSecondMoment: Array<{ originalName: string; variable: tf.Variable } | undefined>;
  incrementIterations(): void;
}

export class FusedAdamOptimizer extends tf.AdamOptimizer {
  /** True when this update will use the native kernel (wasm backend with the addon's kernels). */
  static fused(): boolean {
    return tf.getBackend() === 'wasm' && tf.getKernel(FUSED_ADAM_KERNEL, 'wasm') !== undefined;
  }

  override applyGradients(variableGradients: Parameters<tf.AdamOptimizer['applyGradients']>[0]): void {
    if (!FusedAdamOptimizer.fused()) return super.applyGradients(variableGradients);
    const self = this as unknown as AdamState;
    const names = Array.isArray(variableGradients) ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
    tf.tidy(() => {
      // tfjs: sub(1, accBeta), in float32
      const c1 = Math.fround(1 - self.accBeta1.dataSync()[0]);
      const c2 = Math.fround(1 - self.accBeta2.dataSync()[0]);
      names.forEach((name, i) => {
        const value = tf.engine().registeredVariables[name];
        const moment = (list: AdamState['accumulatedFirstMoment'], suffix: string) =>
          (list[i] ??= { originalName: `${name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) }).variable;
        const m = moment(self.accumulatedFirstMoment, 'm');
        const v = moment(self.accumulatedSecondMoment, 'v');
        const g: tf.Tensor | undefined = Array.isArray(variableGradients) ? variableGradients[i].tensor : variableGradients[name];
        if (g == null) return;
        const attrs = { beta1: self.beta1, beta2: self.beta2, c1, c2, epsilon: self.epsilon, learningRate: self.learningRate };
        const [w2, m2, v2] = tf.engine().runKernel(FUSED_ADAM_KERNEL, { w: value, g, m, v }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
        m.assign(m2);
        v.assign(v2);
        value.assign(w2);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
    });
    self.incrementIterations();
  }
}

/** tf.train.adam(learningRate), fused where the native kernels run. */
export function adam(learningRate: number, beta1 = 0.9, beta2 = 0.999): FusedAdamOptimizer {
  return new FusedAdamOptimizer(learningRate, beta1, beta2);
}
