/** The world: prompt grammar, renderer, judge, simulated raters, pretraining corpus, datasets on disk. */
export * from './vocab';
export * from './prompt';
export * from './promptSets';
export * from './image';
export * from './shapes';
export * from './render';
export * from './judge';
export * from './judgeAudit';
export * from './robustness';
export * from './raters';
export * from './corpus';
export * from './dataset';
export * from './judgeDataset';
export * from './promptFile';
export * from './hardNegatives';
