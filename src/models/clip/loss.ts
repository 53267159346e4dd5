/**
 * CLIP's symmetric contrastive (InfoNCE) loss.
 *
 *   logits_ij = exp(s) <img_i / |img_i|, txt_j / |txt_j|>        [B, B]
 *   L = 1/2 [ CE(softmax_j logits_ij, target_i) + CE(softmax_i logits_ij, target_j) ]
 *
 * The small grammar makes equal captions in one batch likely, so the target of
 * row i is uniform over the examples whose caption equals caption i (CLIP's
 * identity target when all captions differ): an equal caption is not a negative.
 */
import * as tf from '@tensorflow/tfjs';

/** The soft target [B, B]: row i is uniform over j with captions[j] === captions[i]. */
export function sameCaptionTargets(captions: readonly string[]): tf.Tensor2D {
  const b = captions.length;
  const t = new Float32Array(b * b);
  for (let i = 0; i < b; i++) {
    const same = captions.map((c, j) => (c === captions[i] ? j : -1)).filter((j) => j >= 0);
    for (const j of same) t[i * b + j] = 1 / same.length;
  }
  return tf.tensor2d(t, [b, b]);
}

/**
 * logits [B_img, B_txt] (image i vs caption j), targets [B, B] (symmetric,
 * rows sum to 1) -> scalar loss.
 */
export function contrastiveLoss(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    // tf.logSoftmax works on the last axis only: text-to-image uses the transpose.
    const imageToText = tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1)));
    const textToImage = tf.neg(tf.mean(tf.sum(tf.mul(tf.transpose(targets), tf.logSoftmax(tf.transpose(logits))), 1)));
    return tf.mul(tf.add(imageToText, textToImage), 0.5) as tf.Scalar;
  });
}
