/** Folders on disk (no tfjs here: the world and feedback stages use it too). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Write `data` to `file` atomically: a temp file in the same folder, fsync
 * (unless `durable` is false), rename; readers never see half a file. When
 * any step fails (e.g. `file` is a folder) the temp file is removed.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, opts: { durable?: boolean } = {}): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeFileSync(fd, data);
      if (opts.durable !== false) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** writeFileAtomic, unless `file` already holds exactly `text` (a resumed run's record keeps its time). */
export function writeIfChanged(file: string, text: string): void {
  let now: string | undefined;
  try {
    now = fs.readFileSync(file, 'utf8');
  } catch {
    now = undefined;
  }
  if (now !== text) writeFileAtomic(file, text);
}

/**
 * The JSON in `file`, or an error naming the file: "<file>: not valid JSON (...)" plus `advice`
 * (what to do: restore it, use another folder). A missing file is the caller's to check.
 */
export function readJsonFile<T = unknown>(file: string, advice = 'restore it, or use another folder'): T {
  const text = fs.readFileSync(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}${text.trim() === '' ? '; the file is empty' : ''}): ${advice}`);
  }
}

/** The outermost folder of `dir`'s path that does not exist yet (what makeDir would create first), or undefined when `dir` exists. */
export function firstMissingDir(dir: string): string | undefined {
  let first: string | undefined;
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    first = d;
    if (path.dirname(d) === d) break;
  }
  return first;
}

/**
 * Remove `dir` if it holds nothing but empty folders (what a refused run made); true when removed.
 * Bottom up with rmdir, which fails on a folder that is not empty: a file another process has just
 * put there (a second run sharing a new parent folder) stops the removal, and is kept.
 */
export function removeEmptyTree(dir: string): boolean {
  const remove = (d: string): boolean => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return false;
    }
    const all = entries.map((e) => e.isDirectory() && remove(path.join(d, e.name))).every(Boolean);
    if (!all) return false;
    try {
      fs.rmdirSync(d);
      return true;
    } catch {
      return false;
    }
  };
  return fs.existsSync(dir) && fs.statSync(dir).isDirectory() && remove(dir);
}

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

/**
 * A path as a person reads it in a message: relative to the working folder
 * when inside it ("data/base-model", "." for the folder itself), else absolute
 * (not "../../work/main/data/base-model").
 */
export function shownPath(p: string): string {
  const rel = path.relative(process.cwd(), path.resolve(p));
  return rel === '' ? '.' : rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(p) : rel;
}

/** Lock files this process holds (a second holder in the same process is refused too, not taken for a dead one). */
const heldLocks = new Set<string>();

/** The fields of /proc/PID/stat after the process's name (field 3, the state, first), or undefined where there is none to read (not Linux, gone). */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the name in parentheses may hold spaces
  } catch {
    return undefined;
  }
}

/**
 * Whether a process of this pid runs (signal 0 asks without sending; EPERM: it runs, as another user). A zombie
 * does not (a killed run whose parent has not reaped it yet: its lock refused a rerun for a second or two).
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return procStat(pid)?.[0] !== 'Z';
}

/** How old a takeover token must be before another process may remove it (its holder died in a microseconds' step). */
const STALE_TAKEOVER_MS = 10_000;

/**
 * Which process a pid is, beyond its number: the machine's boot and the process's start time (Linux's /proc;
 * '' where there is none to read). A lock left by a killed run names a pid that a later process may take
 * (after a reboot, most likely): alive by its pid alone, it refused every rerun, "wait for it".
 */
export function processStamp(pid: number): string {
  const start = procStat(pid)?.[19]; // field 22, starttime
  if (!start) return '';
  try {
    return `${fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}/${start}`;
  } catch {
    return '';
  }
}

/** A lock file's text: this process's pid, its stamp ('-' where there is none) and this host's name. */
function lockText(): string {
  return `${process.pid} ${processStamp(process.pid) || '-'} ${os.hostname()}`;
}

/**
 * The pid a lock file names (NaN when it is gone or unreadable), and whether that process runs: this one if it
 * holds `file`; another as `processAlive` says (a killed run's lock is not; another user's process is), unless
 * the lock's stamp says it was another process of that pid (see processStamp; a lock without one is judged by
 * its pid); one on another host (`host`) is taken to run.
 */
function lockHolder(file: string): { pid: number; alive: boolean; host?: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return { pid: NaN, alive: false }; // gone since: its holder finished
  }
  const [first, written, host] = text.split(/\s+/);
  const pid = Number(first);
  const stamp = written === '-' ? undefined : written;
  // Another machine's process (a folder shared between hosts, as queue workers may share one): nothing here can
  // tell whether it runs, so it is taken to (by its pid alone it was judged here, and taken over).
  if (host && host !== os.hostname()) return { pid, alive: true, host };
  if (pid === process.pid) return { pid, alive: heldLocks.has(file) };
  if (!(Number.isInteger(pid) && pid > 0 && processAlive(pid))) return { pid, alive: false };
  const now = stamp ? processStamp(pid) : '';
  return { pid, alive: !stamp || !now || now === stamp };
}

/**
 * Make `file` holding `text`, or return false where it exists. The file appears whole (written aside, then
 * linked in): made empty and written after, a reader in between read no pid, took it for a dead holder's, and
 * removed it, and both processes ran.
 */
function createWhole(file: string, text: string): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Remove a takeover token left by a process that died holding it: renamed aside first, so a fresh token made meanwhile is not the one removed. */
function removeStaleToken(token: string): void {
  try {
    if (Date.now() - fs.statSync(token).mtimeMs <= STALE_TAKEOVER_MS) return;
    const aside = `${token}.${process.pid}.stale`;
    fs.renameSync(token, aside);
    // Renamed between our look and our rename: a fresh token (younger than the limit) is put back where it was.
    if (Date.now() - fs.statSync(aside).mtimeMs <= STALE_TAKEOVER_MS) createWhole(token, fs.readFileSync(aside, 'utf8'));
    fs.rmSync(aside, { force: true });
  } catch {
    // the token went meanwhile
  }
}

/**
 * Hold `dir` for this process while `f` runs, with the lock file `name` holding its pid: a second `what`
 * (another process, or another call in this one) is refused naming the holder; a lock left by a process that
 * is gone (killed) is taken over. The takeover is done under a token (`name.takeover`, made exclusively): two
 * processes that both found the dead one's lock could otherwise each remove it, the second removing the first's
 * new lock, and both run.
 */
export async function withFolderLock<T>(dir: string, name: string, what: string, f: () => Promise<T>): Promise<T> {
  const made = firstMissingDir(dir); // the outermost folder this call makes (dir or a parent of it), if any
  makeDir(dir);
  const file = path.resolve(dir, name);
  const refuse = ({ pid, host }: { pid: number; host?: string }) =>
    new Error(host
      ? `another ${what} (pid ${pid} on host ${host}) holds ${dir}; wait for it, or, if none runs there, remove ${file} (a killed ${what} resumes when rerun)`
      : `another ${what} (pid ${pid}${pid === process.pid ? ', this one' : ''}) is running in ${dir}; wait for it, or stop it (a killed ${what} resumes when rerun)`);
  const token = `${file}.takeover`;
  const deadline = Date.now() + 2 * STALE_TAKEOVER_MS;
  for (;;) {
    if (createWhole(file, lockText())) break;
    const seen = lockHolder(file);
    if (seen.alive) throw refuse(seen);
    if (Date.now() > deadline) throw new Error(`could not take over ${file}, left by a process that is gone (pid ${seen.pid}): another process keeps its takeover token ${token}; remove both files if no ${what} runs in ${dir}`);
    if (!createWhole(token, String(process.pid))) {
      // Another process is taking the lock over: wait for it, then look again (its lock will be alive).
      removeStaleToken(token);
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    try {
      // Under the token: the lock is still the dead one's (not a lock made since), so it is ours to remove.
      const now = lockHolder(file);
      if (now.alive) throw refuse(now);
      if (Object.is(now.pid, seen.pid) || Number.isNaN(now.pid)) fs.rmSync(file, { force: true });
    } finally {
      fs.rmSync(token, { force: true });
    }
  }
  heldLocks.add(file);
  try {
    return await f();
  } finally {
    heldLocks.delete(file);
    fs.rmSync(file, { force: true });
    // Folders made for the lock alone (the work was refused before writing anything: dir and any parents it
    // needed) go with it.
    if (made) removeEmptyTree(made);
  }
}
