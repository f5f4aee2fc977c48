import { Command, CommanderError } from 'commander';
import { EXIT } from './exit-codes.js';

/** The version every bin prints with `--version`. */
export const VERSION = '0.1.0';

/** A commander program whose actions return exit codes, with usage errors mapped to 64. */
export function newProgram(name: string, description: string): Command {
  return new Command(name).description(description).showHelpAfterError('(run with --help for usage)').exitOverride();
}

/** Parse argv, run the action, and return the exit code. Never calls process.exit itself. */
export async function runProgram(program: Command, argv: readonly string[], result: { code: number }): Promise<number> {
  try {
    await program.parseAsync(argv);
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    throw err;
  }
}
