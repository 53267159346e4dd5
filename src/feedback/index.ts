/** Stage 1, feedback: the label store, simulated panels, agreement statistics, the labelling app and image collection. */
export * from './store';
export * from './io';
export * from './panel';
export * from './agreement';
export * from './label';
export * from './server';
export * from './collect';
export * from './modelGenerator';
