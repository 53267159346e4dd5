/** Stage 3, fine-tuning: the reward-weighted loss, its data, the config and the run. */
export * from './loss';
export * from './config';
export * from './data';
export * from './train';
export * from './evaluate';
