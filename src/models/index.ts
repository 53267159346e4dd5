/** The base models: MiniCLIP and the text-conditioned diffusion model, their losses, sampler and training loops. */
export * from './config';
export * from './layers';
export * from './data';
export * from './checkpoint';
export * from './train-loop';
export * from './clip/tokenizer';
export * from './clip/model';
export * from './clip/loss';
export * from './clip/train';
export * from './diffusion/schedule';
export * from './diffusion/unet';
export * from './diffusion/model';
export * from './diffusion/loss';
export * from './diffusion/sampler';
export * from './diffusion/train';
