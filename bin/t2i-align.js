#!/usr/bin/env node
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const dist = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (!fs.existsSync(dist)) {
  process.stderr.write('t2i-align: the kit is not built (dist/ is missing); run `npm install` or `npm run build` in ' + path.dirname(__dirname) + '\n');
  process.exit(1);
}
require(dist).main();
