/**
 * The CLI's one error path. Whatever stops a command (a parser error, a bad
 * option value, a bad environment variable, a system error) ends as one line
 * on stderr, `t2i-align: <what is wrong, what is allowed or what to do>`, and
 * exit status 1. Only `--help` (and the help shown when no command is given)
 * stays long.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';

/**
 * Thrown by a command that has printed its result and only wants a non-zero
 * exit status (e.g. `judge` on an image that is not aligned): main prints
 * nothing more.
 */
export class ExitStatus extends Error {
  override name = 'ExitStatus';
  constructor(readonly status: number, message = `exit status ${status}`) {
    super(message);
  }
}

/** Commander's own exits that are not errors: help and version were printed as asked. */
const NOT_ERRORS = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

/** True for a CommanderError that only says help or the version was printed. */
export function isHelpOrVersion(e: unknown): e is CommanderError {
  return e instanceof CommanderError && NOT_ERRORS.has(e.code);
}

/** `t2i-align render` for a subcommand, `t2i-align` for the program. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The long option names of a command, e.g. "--prompt, --out, --seed, --size, --help". */
function optionList(cmd: Command): string {
  return [...cmd.options.filter((o) => !o.hidden).map((o) => o.long ?? o.short), '--help'].join(', ');
}

/** The option of `cmd` named in a commander message ("option '--out <file.png>' ..."). */
function optionIn(cmd: Command, message: string): { flags: string; description: string } | undefined {
  const m = /'(--?[\w-]+)[^']*'/.exec(message);
  if (!m) return undefined;
  return cmd.options.find((o) => o.long === m[1] || o.short === m[1]);
}

/**
 * A commander parser error of `cmd` as one line (without the `t2i-align: `
 * prefix): what is wrong, then what is allowed or where to look.
 */
export function commanderLine(err: CommanderError, cmd: Command): string {
  const raw = err.message.replace(/^error: /, '');
  const suggestion = /\(Did you mean (.+)\?\)/.exec(raw)?.[1];
  const first = raw.split('\n')[0].replace(/'/g, '"');
  const where = cmd.parent ? `${cmd.name()}: ` : '';
  const help = `${commandPath(cmd)} --help`;
  const didYouMean = suggestion ? ` (did you mean ${suggestion}?)` : '';
  switch (err.code) {
    case 'commander.unknownCommand': {
      const names = cmd.createHelp().visibleCommands(cmd).map((c) => c.name());
      return `${first}${didYouMean}; commands: ${names.join(', ')} (${help} says what each does)`;
    }
    case 'commander.unknownOption':
      return `${where}${first}${didYouMean}; ${cmd.name()} takes ${optionList(cmd)} (${help})`;
    case 'commander.missingMandatoryOptionValue': {
      const o = optionIn(cmd, raw);
      return o ? `${where}${o.flags} is required: ${o.description} (${help})` : `${where}${first} (${help})`;
    }
    case 'commander.optionMissingArgument': {
      const o = optionIn(cmd, raw);
      return o ? `${where}${o.flags} needs a value: ${o.description} (${help})` : `${where}${first} (${help})`;
    }
    case 'commander.excessArguments': {
      const extra = cmd.args.slice(cmd.registeredArguments.length).map((a) => `"${a}"`).join(' ');
      return `${where}unexpected argument${cmd.args.length - cmd.registeredArguments.length > 1 ? 's' : ''} ${extra}: ${cmd.name()} takes ${optionList(cmd)} (quote a value with spaces, e.g. --prompt "two red circles")`;
    }
    default:
      return `${where}${first} (${help})`;
  }
}

/**
 * An option given no value, so that it took the next flag as one (`render
 * --prompt --out x.png` reads "--out" as the prompt): its one line, or
 * undefined. Commander's own message would name the option left without its
 * value (--out is required), not the one that was missing it.
 */
export function flagTakenAsValue(cmd: Command): string | undefined {
  const flags = new Set<string>(['--help', '-h', ...cmd.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f))]);
  for (const o of cmd.options) {
    const key = o.attributeName();
    const v: unknown = cmd.getOptionValue(key);
    const taken = (Array.isArray(v) ? v : [v]).find((x): x is string => typeof x === 'string' && flags.has(x));
    if (taken === undefined || cmd.getOptionValueSource(key) !== 'cli') continue;
    const where = cmd.parent ? `${cmd.name()}: ` : '';
    return `${where}${o.long ?? o.short} has no value: it took the next flag, ${taken}, as its value; write ${o.flags} (${o.description}; ${commandPath(cmd)} --help)`;
  }
  return undefined;
}

/** An error thrown by Node's fs, net or child_process: it has an errno code and a syscall. */
function isSystemError(e: unknown): e is NodeJS.ErrnoException & { address?: string; port?: number; dest?: string; hostname?: string } {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!) && typeof (e as NodeJS.ErrnoException).syscall === 'string';
}

/** The path a user gave, not the temp file an atomic write made next to it (`x.png.tmp-123-abc` -> `x.png`). */
function userPath(p: string): string {
  return p.replace(/\.tmp-\d+(-[A-Za-z0-9]+)*$/, '');
}

/**
 * A system error (ENOENT, EEXIST, EACCES, EADDRINUSE, ...) as one line that
 * names the path or address and what to do; undefined for other errors.
 */
export function systemErrorLine(e: unknown): string | undefined {
  if (!isSystemError(e)) return undefined;
  const file = e.path ? userPath(e.path) : undefined;
  const addr = e.port !== undefined ? `${e.address ?? ''}:${e.port}` : e.address;
  switch (e.code) {
    case 'ENOENT': {
      if (!file) break;
      const parent = path.dirname(file);
      if (e.syscall === 'mkdir') return `cannot make the folder ${file}: ${parent} does not exist or cannot hold folders (pick another path)`;
      const writing = file !== e.path || e.syscall === 'rename' || e.syscall === 'copyfile';
      if (writing && !fs.existsSync(parent)) return `cannot write ${file}: the folder ${parent} does not exist (create it first, or pick another path)`;
      return `${file}: no such file or folder (check the path)`;
    }
    case 'EEXIST':
      if (file) return `${file} already exists${e.syscall === 'mkdir' ? ' and is not a folder' : ''} (remove it, or pick another path)`;
      break;
    case 'ENOTDIR':
      if (file) return `${file}: a part of this path is a file, not a folder (pick another path)`;
      break;
    case 'EISDIR':
      if (file) return `${file} is a folder, where a file is expected (give a file path)`;
      break;
    case 'EACCES':
    case 'EPERM':
      if (e.syscall === 'listen' || e.syscall === 'bind') return `no permission to listen on ${addr} (ports below 1024 need privileges: pick a port above 1023, or --port 0 for any free one)`;
      if (file) return `permission denied: cannot ${e.syscall} ${file} (pick a path you may ${e.syscall === 'open' || e.syscall === 'scandir' ? 'read and write' : 'write'}, or change its permissions)`;
      break;
    case 'EROFS':
      if (file) return `${file} is on a read-only file system (pick another path)`;
      break;
    case 'ENOSPC':
      return `no space left on the device${file ? ` for ${file}` : ''} (free some space, or pick another path)`;
    case 'EADDRINUSE':
      return `address ${addr} is already in use: another server listens there (stop it, pick another --port, or --port 0 for any free one)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      if (e.syscall === 'getaddrinfo' && e.hostname) return `host ${e.hostname} ${e.code === 'ENOTFOUND' ? 'is not known' : 'could not be looked up (the name server did not answer)'} (use --host 127.0.0.1, an IP address of this machine, or 0.0.0.0 for the whole LAN)`;
      break;
    case 'EADDRNOTAVAIL':
      return `address ${addr} is not an address of this machine (use --host 127.0.0.1, or 0.0.0.0 for the whole LAN)`;
    case 'EMFILE':
    case 'ENFILE':
      return `too many open files (${e.syscall}${file ? ` ${file}` : ''}): raise the limit with \`ulimit -n\`, or close other programs`;
  }
  return e.message.split('\n')[0];
}

/** Any error as the one line main prints after `t2i-align: `. */
export function errorLine(e: unknown): string {
  const sys = systemErrorLine(e);
  if (sys !== undefined) return sys;
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n')[0];
}
