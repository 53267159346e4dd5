/** Evaluation: how well a model is aligned, as the judge measures it, and report helpers. */
export * from './base';
export * from './clip';
export * from './report';
export * from './compare';
export * from './classifier';
export * from './fid';
export * from './textWords';
