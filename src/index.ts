/** t2i-align: the kit's public API, as notebooks and the CLI import it. */
export * from './engine';
export * from './feedback';
export * from './models';
export * from './world';
export * from './eval';
export * from './reward';
export * from './finetune';
export * from './pipeline';
export * from './sweep';
export { KIT_VERSION } from './version';
