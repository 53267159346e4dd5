import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const dirs: string[] = [];

/**
 * A fresh folder under the system's temp folder, named `<prefix>XXXXXX`, removed when the process exits.
 * One exit listener serves every folder, however many a test file makes.
 */
export function removedAtExit(prefix: string): string {
  if (dirs.length === 0) process.once('exit', () => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
