// eslint-disable-next-line @typescript-eslint/no-require-imports
export const KIT_VERSION: string = require('../package.json').version;
