/**
 * The paper's Stage 3 objective, reward-weighted likelihood fine-tuning:
 *
 *   L(theta) = E_{(x,z) in D_model} [ r_phi(x,z) * || eps - eps_theta(x_t, t, z) ||^2 ]
 *            + beta * E_{(x,z) in D_pre} [ || eps - eps_theta(x_t, t, z) ||^2 ]
 *
 * One round of reward-weighted regression: the model's own images, each
 * weighted by how aligned the reward model (or the raters) find it, plus beta
 * times the pretraining loss, which keeps the model close to its pretraining
 * data (image fidelity, no forgetting).
 *
 * The kit's UNet predicts v, not eps. With a = sqrt(alpha_bar_t) and
 * v = a eps - sqrt(1 - a^2) x_0, the eps error is a times the v error:
 *   || eps - eps_theta ||^2 = alpha_bar_t || v - v_theta ||^2,
 * so the v-MSE is the eps-MSE with the per-timestep weight 1 / alpha_bar_t
 * (more weight on noisy timesteps). A base model trained with min-SNR
 * weighting (diffusion.lossWeighting, as the shipped one) multiplies both terms
 * by the same w_t = min(SNR_t, 5) / (SNR_t + 1) (`timestepWeights`): on the
 * eps error that is min(1, 5 / SNR_t), the paper's eps-MSE exactly wherever
 * SNR_t <= 5, less weight on the least noisy timesteps. Both terms
 * use the same per-example loss
 * (`denoisingLoss`, the pretraining loss), so the objective keeps its meaning:
 * a reward-weighted denoising loss plus beta times the pretraining loss.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * @param modelLoss per-example denoising loss of the D_model part of the batch, [Bm]
 * @param weights their weights r_phi(x, z) (or labels), [Bm]
 * @param preLoss per-example denoising loss of the D_pre part, [Bp]
 * @param beta weight of the pretraining term, >= 0
 * @returns mean_i(w_i l_i) + beta * mean_j(l_j) (a missing part counts 0)
 */
export function rewardWeightedLoss(modelLoss: tf.Tensor1D, weights: tf.Tensor1D, preLoss: tf.Tensor1D, beta: number): tf.Scalar {
  if (!(beta >= 0)) throw new Error(`beta must be >= 0, got ${beta}`);
  if (modelLoss.shape[0] !== weights.shape[0]) throw new Error(`${weights.shape[0]} weights for ${modelLoss.shape[0]} model-generated examples`);
  return tf.tidy(() => {
    const parts: tf.Scalar[] = [];
    if (modelLoss.shape[0] > 0) parts.push(tf.mean(tf.mul(weights, modelLoss)) as tf.Scalar);
    if (beta > 0 && preLoss.shape[0] > 0) parts.push(tf.mul(tf.mean(preLoss), beta) as tf.Scalar);
    return parts.length === 0 ? tf.scalar(0) : parts.length === 1 ? parts[0] : (tf.add(parts[0], parts[1]) as tf.Scalar);
  });
}
