/**
 * The `t2i-align` command line. Each stage adds its commands in its own file
 * under src/cli/ and one line to COMMANDS below. Every error ends in one line
 * `t2i-align: <what is wrong, what is allowed or what to do>` with exit
 * status 1 (see ./errors.ts); every command checks the T2I_* environment
 * variables before it runs (./env.ts).
 */
import { Command, CommanderError } from 'commander';
import { KIT_VERSION } from '../version';
import { checkEnvironment } from './env';
import { commanderLine, errorLine, ExitStatus, flagTakenAsValue, isHelpOrVersion } from './errors';
import { registerCheckpoint } from './checkpoint';
import { registerFeedback } from './feedback';
import { registerEvaluate } from './evaluate';
import { registerEvaluator } from './evaluator';
import { registerEvalFinetune, registerFinetune } from './finetune';
import { registerGenerate } from './generate';
import { registerInfo } from './info';
import { registerPretrain } from './pretrain';
import { registerReward } from './reward';
import { registerSweep } from './sweep';
import { registerWorld } from './world';

const COMMANDS: Array<(program: Command) => void> = [
  registerInfo,
  registerWorld,
  registerCheckpoint,
  registerPretrain,
  registerGenerate,
  registerFeedback,
  registerReward,
  registerFinetune,
  registerEvalFinetune,
  registerEvaluate,
  registerEvaluator,
  registerSweep,
];

/** Every command under `cmd`, `cmd` included. */
function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

/**
 * The program. Parser errors are thrown as plain Errors whose message is the
 * one line main prints (commander prints nothing itself); help and version
 * throw their CommanderError (exit code 0, or 1 for the help shown when no
 * command is given).
 */
export function buildProgram(): Command {
  const program = new Command('t2i-align')
    .description('Align a small text-to-image model with (simulated) human feedback, after Lee et al. 2023.')
    .version(KIT_VERSION)
    .configureOutput({ outputError: () => {} });
  for (const register of COMMANDS) register(program);
  registerHelp(program);
  program.hook('preAction', (_program, command) => {
    const taken = flagTakenAsValue(command);
    if (taken) throw new Error(taken);
    if (command.name() !== 'help') checkEnvironment();
  });
  for (const cmd of allCommands(program)) {
    cmd.exitOverride((err: CommanderError) => {
      throw isHelpOrVersion(err) ? err : new Error(flagTakenAsValue(cmd) ?? commanderLine(err, cmd));
    });
  }
  return program;
}

/** `help [command]`, as commander's own, except that a command that does not exist is an error naming those that do. */
function registerHelp(program: Command): void {
  program.helpCommand(false);
  program
    .command('help [command]')
    .description('display help for command')
    .action((name: string | undefined) => {
      if (name === undefined) program.help();
      const sub = program.commands.find((c) => c.name() === name || c.aliases().includes(name));
      if (!sub || sub.name() === 'help') {
        throw new Error(`help: no command "${name}"; commands: ${program.commands.filter((c) => c.name() !== 'help').map((c) => c.name()).join(', ')}`);
      }
      sub.help();
    });
}

/** Run the CLI; errors print as one line `t2i-align: <message>` and exit 1. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (isHelpOrVersion(e)) {
      process.exitCode = e.exitCode;
      return;
    }
    if (e instanceof ExitStatus) {
      process.exitCode = e.status;
      return;
    }
    process.stderr.write(`t2i-align: ${errorLine(e)}\n`);
    if (process.env.T2I_DEBUG === '1') console.error(e);
    process.exitCode = 1;
  }
}
