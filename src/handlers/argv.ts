import { HandlerRefusedError } from '../errors.js';

const OPERATORS = new Set(['|', '||', '&', '&&', ';', '>', '>>', '<', '<<', '2>', '2>&1', '$(', '`']);

/**
 * Split a shell handler string into argv the way a POSIX shell splits words, without a
 * shell: whitespace separates words; single quotes keep everything literally; double
 * quotes keep everything but `\"`, `\\`, `` \` `` and `\$`; a backslash outside quotes escapes
 * the next character. No variable expansion, globbing or redirection happens, so an
 * unquoted shell operator is refused with a clear message instead of being passed on.
 */
export function splitArgv(command: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quoted = false;
  let i = 0;
  const n = command.length;
  const push = (): void => {
    if (inWord) {
      if (!quoted && OPERATORS.has(word)) {
        throw new HandlerRefusedError(
          `shell handler "${command}" uses the shell operator "${word}", but handlers run without a shell; put the pipeline in a script in the handler directory, or quote the character`,
        );
      }
      words.push(word);
    }
    word = '';
    inWord = false;
    quoted = false;
  };
  while (i < n) {
    const c = command[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      push();
      i++;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw new HandlerRefusedError(`shell handler "${command}" has an unterminated single quote`);
      word += command.slice(i + 1, end);
      inWord = true;
      quoted = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      inWord = true;
      quoted = true;
      for (;;) {
        if (i >= n) throw new HandlerRefusedError(`shell handler "${command}" has an unterminated double quote`);
        const d = command[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < n && '"\\$`'.includes(command[i + 1]!)) {
          word += command[i + 1];
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
    } else if (c === '\\') {
      if (i + 1 >= n) throw new HandlerRefusedError(`shell handler "${command}" ends with a lone backslash`);
      word += command[i + 1];
      inWord = true;
      quoted = true;
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  push();
  if (words.length === 0) throw new HandlerRefusedError('shell handler is empty');
  if (words[0] === '') throw new HandlerRefusedError(`shell handler "${command}" names no program: its first word is an empty string`);
  return words;
}
