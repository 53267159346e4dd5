/**
 * The reward model's two losses (the paper's Stage 2), as pure functions of
 * tensors. The training loop adds them: L = L_mse + lambda * L_pc.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Mean squared error to the label:
 *
 *     L_mse(phi) = E_{(x, z, y)} [ (y - r_phi(x, z))^2 ]
 *
 * y is 1 for "good", 0 for "bad" (one row per rater), or the share of raters
 * who said good (one row per image).
 * @param reward r_phi(x, z), [B] in [0, 1]
 * @param label y, [B]
 * @param weight optional per-row weights [B] (a mean weighted by them)
 * @returns scalar
 */
export function mseLoss(reward: tf.Tensor1D, label: tf.Tensor1D, weight?: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const sq = tf.squaredDifference(reward, label);
    if (!weight) return tf.mean(sq) as tf.Scalar;
    return tf.div(tf.sum(tf.mul(sq, weight)), tf.maximum(tf.sum(weight), 1e-12)) as tf.Scalar;
  });
}

/**
 * The auxiliary prompt-classification loss: for images labelled good, with
 * their true prompt z_1 and N-1 perturbed prompts z_2..z_N,
 *
 *     L_pc(phi) = E_x [ -log( exp(r_phi(x, z_1)) / sum_{j=1..N} exp(r_phi(x, z_j)) ) ]
 *
 * the cross-entropy of softmax_j r_phi(x, z_j) with the true prompt as the
 * target. The rewards themselves are the logits (in [0, 1], as in the paper),
 * so the loss cannot go below log(1 + (N-1)/e): it pushes r(x, z_1) up and the
 * others down without ever being satisfied.
 * @param rewards r_phi(x, z_j), [B, N], column 0 the true prompt
 * @returns scalar (0 for B = 0)
 */
export function promptClassificationLoss(rewards: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    if (rewards.shape[0] === 0) return tf.scalar(0);
    const logProb = tf.logSoftmax(rewards, -1); // [B, N]
    const first = logProb.slice([0, 0], [-1, 1]).reshape([-1]);
    return tf.neg(tf.mean(first)) as tf.Scalar;
  });
}

/**
 * The total loss L = L_mse + lambda * L_pc (lambda = 0 leaves L_mse exactly:
 * the auxiliary term is not computed at all).
 */
export function rewardLoss(mse: tf.Scalar, pc: () => tf.Scalar, lambda: number): tf.Scalar {
  if (lambda === 0) return mse;
  return tf.tidy(() => tf.add(mse, tf.mul(pc(), lambda)) as tf.Scalar);
}
