/**
 * The typed config of the base models (MiniCLIP, the text-conditioned UNet)
 * and their pretraining. Every field is explained where it is declared;
 * unknown keys and bad values are errors that name the key's path.
 *
 * Presets: `quick` (tiny, for tests and `pretrain --quick`: a couple of
 * minutes) and `default` (sized for the full pretraining to fit in about an
 * hour on a 2-core machine, see `PRESETS.default`). Experiments override a
 * preset with `resolvePretrainConfig('default', { diffusionTrain: { steps: 10 } })`.
 */
import { z } from 'zod';

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** Per-timestep weightings of the denoising loss (DiffusionConfig.lossWeighting). */
export const LOSS_WEIGHTINGS = ['none', 'min-snr'] as const;
export type LossWeighting = (typeof LOSS_WEIGHTINGS)[number];

export const ClipConfigSchema = z.strictObject({
  /** Token positions of the text encoder, <bos> and <eos> included (the longest grammar prompt needs 8). */
  maxTokens: int(8, 64),
  /** Width of the text transformer (token and position embeddings, residual stream). */
  textWidth: int(8, 1024),
  /** Number of pre-LN transformer blocks in the text encoder. */
  textLayers: int(1, 24),
  /** Attention heads per block; must divide textWidth. */
  textHeads: int(1, 32),
  /** Output channels of the image encoder's stride-2 convs; each halves the 32x32 image (3 convs: 4x4 at the end). */
  imageChannels: z.array(int(1, 1024)).min(1).max(5),
  /** Width of the image encoder's hidden dense layer (after flattening the last feature map). */
  imageHidden: int(8, 4096),
  /** Dimension of the joint image-text space the contrastive loss compares in. */
  embedDim: int(8, 1024),
  /** Initial softmax temperature of the contrastive logits (CLIP: 0.07); learned as log(1/T), capped at T = 0.01. */
  initTemperature: z.number().positive().max(1),
  /**
   * Training: each caption naming two, three or four objects brings the same caption with the other two
   * counts as extra wrong answers for every image of the batch (`countSwaps`), so the towers must tell
   * the count words apart; without them MiniCLIP gives "two" and "three circles" almost the same token
   * states (README, "A suspected reason the count does not move"). Off in the shipped MiniCLIP. A caption
   * that dropped or misstated its count (the corpus's caption noise) can make a true description of some
   * other image a wrong answer here, as in-batch negatives already can.
   */
  countNegatives: z.boolean().default(false),
});
export type ClipConfig = z.infer<typeof ClipConfigSchema>;

export const UnetConfigSchema = z.strictObject({
  /** Pixels per side folded into channels before the UNet (1: pixel space; 2: 32x32x3 -> 16x16x12, 4x cheaper). */
  patchSize: z.union([z.literal(1), z.literal(2)]),
  /** Channels per resolution level; level i works at (32 / patchSize) / 2^i pixels. */
  channels: z.array(int(4, 1024)).min(1).max(4),
  /** Levels (indices into channels) with a transformer block: self-attention, cross-attention to the prompt's tokens, MLP. The bottleneck always has one. */
  attentionLevels: z.array(int(0, 3)),
  /** Attention heads in those blocks; must divide the level's channels. */
  heads: int(1, 32),
  /** Width of the timestep embedding (sinusoidal features, then a 2-layer MLP). */
  timeEmbedDim: int(4, 2048),
  /** Groups of the GroupNorms; must divide every level's channels. */
  groups: int(1, 64),
  /** ResBlocks per level, on the way down and on the way up (DDPM has one more on the way up; here they match). */
  resBlocks: int(1, 4).default(1),
  /**
   * Add the prompt's pooled features (the mean of its token features) to the timestep embedding,
   * through a zero-initialised linear layer, so that every ResBlock at every level sees the prompt,
   * not only the transformer blocks (Imagen, Saharia et al. 2022; SDXL's pooled text embedding).
   * Off in the shipped model, whose prompt reaches the UNet only through cross-attention.
   */
  pooledText: z.boolean().default(false),
  /**
   * Self-conditioning (Chen et al. 2022, "Analog Bits"): the UNet also takes its own previous
   * estimate of x0, through a zero-initialised convolution added to the input convolution's output.
   * In training, half the examples get an estimate from a first pass without gradient (the other
   * half zeros); in sampling, each step gets the previous step's guided x0 (zeros at the first).
   * Off in the shipped model.
   */
  selfCondition: z.boolean().default(false),
});
export type UnetConfig = z.infer<typeof UnetConfigSchema>;

export const DiffusionConfigSchema = z.strictObject({
  /** Diffusion steps T of the forward process (DDPM: 1000). */
  timesteps: int(10, 10000),
  /** Beta schedule: 'linear' (DDPM, 1e-4 .. 0.02) or 'cosine' (Nichol & Dhariwal 2021; better for small images). */
  schedule: z.enum(['linear', 'cosine']),
  /**
   * What the UNet outputs: 'epsilon' (the noise, DDPM and Stable Diffusion v1.5) or 'v'
   * (v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x_0, Salimans & Ho 2022). The loss compares the
   * UNet's output to that target; the sampler converts it to eps_theta either way.
   */
  prediction: z.enum(['epsilon', 'v']),
  /** Probability that a training example's prompt is replaced by the empty prompt (classifier-free guidance needs the unconditional model). */
  condDropout: z.number().min(0).max(1),
  /**
   * Per-timestep weight of the denoising loss. 'none': the plain loss of `prediction` (for v, (SNR + 1) times
   * the x0 error; for eps, SNR times it). 'min-snr' (Hang et al. 2023): min(SNR, snrGamma) times the x0
   * error, so that the easy low-noise steps (large SNR) stop dominating the gradient.
   */
  lossWeighting: z.enum(LOSS_WEIGHTINGS).default('none'),
  /** gamma of 'min-snr' (the paper's 5). */
  snrGamma: z.number().positive().default(5),
  /** The epsilon-prediction network. */
  unet: UnetConfigSchema,
});
export type DiffusionConfig = z.infer<typeof DiffusionConfigSchema>;

export const SamplerConfigSchema = z.strictObject({
  /** DDIM steps (evenly spaced over the T training steps). */
  steps: int(1, 10000),
  /** Classifier-free guidance scale s: eps = eps_uncond + s (eps_cond - eps_uncond); 0 is unconditional, 1 conditional. */
  guidanceScale: z.number().min(0).max(100),
  /** DDIM timesteps: 'leading' (Stable Diffusion's, skips the ill-conditioned t ~ T) or 'trailing' (starts at t = T-1). */
  spacing: z.enum(['leading', 'trailing']),
  /** DDIM eta: 0 is the deterministic DDIM sampler, 1 has DDPM-like noise. */
  eta: z.number().min(0).max(1),
  /** Clip the predicted x0 to [-1, 1] at every step (keeps a small model's samples in range). */
  clipSample: z.boolean(),
  /**
   * Guide only the steps whose timestep t has lo <= t <= hi (Kynkaanniemi et al. 2024, "guidance in a
   * limited interval"); the other steps use the conditional model alone (scale 1, one UNet pass).
   * Absent: every step is guided.
   */
  guidanceInterval: z
    .tuple([int(0, 100000), int(0, 100000)])
    .refine(([lo, hi]) => lo <= hi, { message: 'guidanceInterval [lo, hi] needs lo <= hi' })
    .optional(),
});
export type SamplerConfig = z.infer<typeof SamplerConfigSchema>;

export const TrainConfigSchema = z.strictObject({
  /** Optimizer updates. */
  steps: int(1, 10_000_000),
  /** Examples per update. */
  batchSize: int(1, 4096),
  /** Adam learning rate (the peak, reached at the end of the warmup). */
  learningRate: z.number().positive().max(1),
  /** Linear learning-rate warmup, in updates. */
  warmupSteps: int(0, 1_000_000),
  /**
   * Learning rate after the warmup: 'constant', or 'cosine' (half a cosine from learningRate down to 0 at
   * `steps`; the late small steps average out the noise of the updates). With 'cosine', `steps` is part of
   * the schedule, so a run cannot be resumed with other `steps`.
   */
  lrSchedule: z.enum(['constant', 'cosine']).default('constant'),
  /**
   * Decay of an exponential moving average of the trained weights, kept beside them (`ema/...` in the
   * checkpoint) and used for sampling; 0: none. The decay at update n is min(emaDecay, (1 + n) / (10 + n)),
   * so the average forgets the random initial weights early on.
   */
  emaDecay: z.number().min(0).max(0.99999).default(0),
  /** Save a checkpoint (weights, optimizer state, step) every this many updates, and at the end. */
  checkpointEvery: int(1, 10_000_000),
});
export type TrainConfig = z.infer<typeof TrainConfigSchema>;

/** How a diffusion update draws its timesteps (DiffusionTrainConfig.timestepSampling). */
export const TIMESTEP_SAMPLINGS = ['uniform', 'logit-normal'] as const;
export type TimestepSampling = (typeof TIMESTEP_SAMPLINGS)[number];

export const DiffusionTrainConfigSchema = TrainConfigSchema.extend({
  /**
   * 'uniform': t ~ Uniform{0..T-1} (DDPM). 'logit-normal' (Esser et al. 2024, Stable Diffusion 3):
   * t = floor(T sigmoid(u)), u ~ N(logitMean, logitStd^2), so that the updates go where the sample's
   * layout and shapes are decided (the middle timesteps) rather than where denoising is easy.
   * Absent: 'uniform' (so the configs of earlier runs read as they were made).
   */
  timestepSampling: z.enum(TIMESTEP_SAMPLINGS).optional(),
  /** Mean of u for 'logit-normal' (absent: 0, centred on t = T/2; 0.4: on t ~ 0.6 T). */
  logitMean: z.number().min(-5).max(5).optional(),
  /** Standard deviation of u for 'logit-normal' (absent: 1). */
  logitStd: z.number().positive().max(5).optional(),
  /**
   * Input perturbation against exposure bias (Ning et al. 2023): x_t is made with the noise eps + gamma xi,
   * xi ~ N(0, I) drawn apart, while the target stays eps (or its v). The network so learns to denoise
   * inputs a little off the forward process, as its own samples are at sampling time. Absent: 0 (none;
   * the draws of earlier runs unchanged). The paper's gamma: 0.1.
   */
  inputPerturbation: z.number().min(0).max(1).optional(),
});
export type DiffusionTrainConfig = z.infer<typeof DiffusionTrainConfigSchema>;

export const PretrainConfigSchema = z.strictObject({
  /** Seed of everything: initial weights, batches, noise, timesteps, condition dropout. */
  seed: z.number().int(),
  /** MiniCLIP: the text encoder the diffusion model is conditioned on, and the image-text scorer. */
  clip: ClipConfigSchema,
  /** MiniCLIP contrastive pretraining on (image, caption) pairs. */
  clipTrain: TrainConfigSchema,
  /** The text-to-image diffusion model. */
  diffusion: DiffusionConfigSchema,
  /** Diffusion pretraining (Algorithm 1 of DDPM), with MiniCLIP's text encoder frozen. */
  diffusionTrain: DiffusionTrainConfigSchema,
  /** Default sampler settings for `generate`. */
  sampler: SamplerConfigSchema,
});
export type PretrainConfig = z.infer<typeof PretrainConfigSchema>;

const quick: PretrainConfig = {
  seed: 0,
  clip: { maxTokens: 12, textWidth: 32, textLayers: 1, textHeads: 2, imageChannels: [8, 16, 16], imageHidden: 64, embedDim: 32, initTemperature: 0.07, countNegatives: false },
  clipTrain: { steps: 60, batchSize: 32, learningRate: 1e-3, warmupSteps: 5, lrSchedule: 'constant', emaDecay: 0, checkpointEvery: 30 },
  diffusion: {
    timesteps: 1000,
    schedule: 'cosine',
    prediction: 'v',
    condDropout: 0.1,
    lossWeighting: 'none',
    snrGamma: 5,
    unet: { patchSize: 2, channels: [16, 32], attentionLevels: [1], heads: 2, timeEmbedDim: 32, groups: 4, resBlocks: 1, pooledText: false, selfCondition: false },
  },
  diffusionTrain: { steps: 60, batchSize: 16, learningRate: 1e-3, warmupSteps: 5, lrSchedule: 'cosine', emaDecay: 0.9, checkpointEvery: 30 },
  sampler: { steps: 10, guidanceScale: 3, spacing: 'trailing', eta: 0, clipSample: true },
};

/**
 * `default`: the preset the shipped base model's recipe stretches to 28,000
 * updates with self-conditioning (`npm run recipe:base-model`); the first run of
 * the fourth-run model's recipe (three more rounds of 6,000 updates followed,
 * `npm run recipe:base-model-r4`), on the
 * 2-core dev machine (wasm backend with the kit's native kernels). Diffusion:
 * 10000 updates at batch 32, Adam 1e-3 with 100 warmup updates and a cosine
 * decay to 0, min-SNR-5 loss weighting (Hang et al. 2023), an EMA of the
 * weights (decay 0.999) for sampling. Measured (`t2i-align pretrain`, MiniCLIP
 * stage reused from the previous run: 7.1 min): diffusion 72 min (0.33 s per
 * update alone, more while other jobs ran). At 1200 updates each, min-SNR at
 * 1e-3 recognised objects where the previous recipe (uniform weights, 5e-4)
 * recognised none (tuning prompts and seeds, eval-base --seed 1000). The
 * sampler below (DDIM 50 steps, eta 1, guidance 7) was chosen on those tuning
 * seeds too; it draws the run's sample grids, and `ship-base-model --guidance`
 * sets the shipped model's (2.5 since the third round, chosen the same way).
 * Without the native kernels a diffusion update takes
 * several times longer: lower diffusionTrain.steps.
 */
const defaults: PretrainConfig = {
  seed: 0,
  clip: { maxTokens: 12, textWidth: 64, textLayers: 2, textHeads: 4, imageChannels: [32, 64, 64], imageHidden: 128, embedDim: 64, initTemperature: 0.07, countNegatives: false },
  clipTrain: { steps: 1500, batchSize: 64, learningRate: 1e-3, warmupSteps: 100, lrSchedule: 'constant', emaDecay: 0, checkpointEvery: 250 },
  diffusion: {
    timesteps: 1000,
    schedule: 'cosine',
    prediction: 'v',
    condDropout: 0.1,
    lossWeighting: 'min-snr',
    snrGamma: 5,
    unet: { patchSize: 2, channels: [48, 96, 96], attentionLevels: [2], heads: 4, timeEmbedDim: 128, groups: 8, resBlocks: 1, pooledText: false, selfCondition: false },
  },
  diffusionTrain: { steps: 10000, batchSize: 32, learningRate: 1e-3, warmupSteps: 100, lrSchedule: 'cosine', emaDecay: 0.999, checkpointEvery: 250 },
  sampler: { steps: 50, guidanceScale: 7, spacing: 'trailing', eta: 1, clipSample: true },
};

export const PRESETS = { quick, default: defaults } as const;
export type PresetName = keyof typeof PRESETS;

/** Recursive partial, for overrides. */
export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (base && over && typeof base === 'object' && typeof over === 'object' && !Array.isArray(base) && !Array.isArray(over)) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    // Own keys only, set as own properties: a "__proto__" key of a JSON file (JSON.parse makes it an own key) set
    // the result's prototype, so its contents applied silently instead of being refused as an unknown key.
    for (const [k, v] of Object.entries(over)) Object.defineProperty(out, k, { value: merge(Object.hasOwn(out, k) ? out[k] : undefined, v), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return over;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validate a whole config; the error lists each bad key by its path. */
export function parsePretrainConfig(value: unknown): PretrainConfig {
  const r = PretrainConfigSchema.safeParse(value);
  if (!r.success) {
    // One line (the CLI prints an error's first line only), each bad key by its path.
    const keys = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid pretrain config: ${keys.join('; ')}`);
  }
  checkConsistency(r.data);
  return r.data;
}

function checkConsistency(c: PretrainConfig): void {
  const problems: string[] = [];
  if (c.clip.textWidth % c.clip.textHeads !== 0) problems.push(`clip.textHeads: ${c.clip.textHeads} does not divide clip.textWidth ${c.clip.textWidth}`);
  const u = c.diffusion.unet;
  const side = 32 / u.patchSize;
  if (side % 2 ** (u.channels.length - 1) !== 0) problems.push(`diffusion.unet.channels: ${u.channels.length} levels do not fit a ${side}x${side} grid`);
  u.channels.forEach((ch, i) => {
    if (ch % u.groups !== 0) problems.push(`diffusion.unet.channels.${i}: ${ch} is not a multiple of groups ${u.groups}`);
    if (ch % u.heads !== 0) problems.push(`diffusion.unet.channels.${i}: ${ch} is not a multiple of heads ${u.heads}`);
  });
  for (const l of u.attentionLevels) if (l >= u.channels.length) problems.push(`diffusion.unet.attentionLevels: level ${l} does not exist (${u.channels.length} levels)`);
  if (problems.length > 0) throw new ConfigError(`invalid pretrain config: ${problems.join('; ')}`);
}

/** A preset with overrides applied (deep merge; arrays replace), validated. */
export function resolvePretrainConfig(preset: PresetName = 'default', overrides: DeepPartial<PretrainConfig> = {}): PretrainConfig {
  if (!(preset in PRESETS)) throw new ConfigError(`unknown preset "${preset}"; allowed: ${Object.keys(PRESETS).join(', ')}`);
  return parsePretrainConfig(merge(structuredClone(PRESETS[preset]), overrides));
}
