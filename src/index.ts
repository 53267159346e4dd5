/** t2i-align: the kit's public API, as notebooks and the CLI import it. */
export * from './engine';
export { KIT_VERSION } from './version';
