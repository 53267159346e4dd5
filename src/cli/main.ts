/**
 * The `t2i-align` command line. Each stage adds its commands in its own file
 * under src/cli/ and one line to COMMANDS below.
 */
import { Command, CommanderError } from 'commander';
import { KIT_VERSION } from '../version';
import { registerCheckpoint } from './checkpoint';
import { registerFeedback } from './feedback';
import { registerEvaluate } from './evaluate';
import { registerEvaluator } from './evaluator';
import { registerEvalFinetune, registerFinetune } from './finetune';
import { registerGenerate } from './generate';
import { registerInfo } from './info';
import { registerPretrain } from './pretrain';
import { registerReward } from './reward';
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
];

export function buildProgram(): Command {
  const program = new Command('t2i-align')
    .description('Align a small text-to-image model with (simulated) human feedback, after Lee et al. 2023.')
    .version(KIT_VERSION)
    .showHelpAfterError()
    .exitOverride();
  for (const register of COMMANDS) register(program);
  return program;
}

/** Run the CLI; errors print as one line `t2i-align: <message>` and exit 1. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`t2i-align: ${message.split('\n')[0]}\n`);
    if (process.env.T2I_DEBUG) console.error(e);
    process.exitCode = 1;
  }
}
