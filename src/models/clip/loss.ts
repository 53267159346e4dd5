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
 * logits [B, B + H] (image i vs caption j), targets [B, B] (symmetric,
 * rows sum to 1) -> scalar loss. Columns past B are extra captions without an
 * image (hard negatives, `countNegatives`): every image's softmax includes
 * them as wrong answers; the text-to-image direction uses the B captions only.
 */
export function contrastiveLoss(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const [b, cols] = logits.shape;
    const padded = cols > b ? tf.concat([targets, tf.zeros([b, cols - b])], 1) : targets;
    const paired = cols > b ? tf.slice(logits, [0, 0], [b, b]) : logits;
    // tf.logSoftmax works on the last axis only: text-to-image uses the transpose.
    const imageToText = tf.neg(tf.mean(tf.sum(tf.mul(padded, tf.logSoftmax(logits)), 1)));
    const textToImage = tf.neg(tf.mean(tf.sum(tf.mul(tf.transpose(targets), tf.logSoftmax(tf.transpose(paired))), 1)));
    return tf.mul(tf.add(imageToText, textToImage), 0.5) as tf.Scalar;
  });
}

/**
 * Count hard negatives: for each caption that names two, three or four
 * objects, the same caption with each other of those counts, leaving out any
 * equal to a caption of the batch (that one is some image's right answer).
 */
export function countSwaps(captions: readonly string[]): string[] {
  const words = ['two', 'three', 'four'];
  const inBatch = new Set(captions);
  const out = new Set<string>();
  for (const c of captions) {
    const m = /^(two|three|four) /.exec(c);
    if (!m) continue;
    for (const w of words) if (w !== m[1] && !inBatch.has(w + c.slice(m[1].length))) out.add(w + c.slice(m[1].length));
  }
  return [...out];
}
