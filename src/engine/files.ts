/** Folders on disk (no tfjs here: the world and feedback stages use it too). */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Make the folder `dir` and its missing parents, as fs.mkdirSync(dir,
 * { recursive: true }) does, but one level at a time: Node's recursive mkdir
 * spins forever on some paths (e.g. /proc/x), where this fails at once with
 * the system error of the level that cannot be made.
 */
export function makeDir(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  if (missing.length === 0 && !fs.statSync(dir).isDirectory()) throw new Error(`${dir} exists and is not a folder (pick another path)`);
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if (!((e as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(d).isDirectory())) throw e;
    }
  }
}
