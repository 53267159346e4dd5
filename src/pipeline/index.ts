/** The stages as functions (what the CLI, the notebooks and `reproduce` call), the claims table and `reproduce`. */
export * from './pretrain';
export * from './stages';
export * from './claims';
export * from './reproduce';
export * from './report';
export * from './reproduceReport';
