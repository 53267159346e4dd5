/** Stage 2, the reward model: perturbed prompts, losses, frozen embeddings, training, checkpoints and evaluation. */
export * from './perturb';
export * from './losses';
export * from './embeddings';
export * from './model';
export * from './data';
export * from './train';
export * from './checkpoint';
export * from './metrics';
export * from './evaluate';
export * from './run';
export * from './ablation';
