/**
 * The `wildcard` pattern operator of EventBridge: `*` matches any run of characters (empty
 * included); `\*` is a literal `*` and `\\` a literal `\`; any other backslash, and two
 * `*` in a row, are errors, as in aws/event-ruler's WildcardParser.
 */
import { starMatcher } from './star-match.js';

/** A matcher for a wildcard expression, or a message saying why it is not one. */
export function compileWildcard(expression: string): ((s: string) => boolean) | string {
  const segments: string[] = [];
  let seg = '';
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i]!;
    if (c === '*') {
      if (expression[i + 1] === '*') return `two "*" in a row at position ${i} (one "*" already matches any run of characters)`;
      segments.push(seg);
      seg = '';
    } else if (c === '\\') {
      const next = expression[i + 1];
      if (next !== '*' && next !== '\\') return `invalid escape at position ${i}: only "\\*" and "\\\\" are allowed`;
      seg += next;
      i++;
    } else {
      seg += c;
    }
  }
  segments.push(seg);
  return starMatcher(segments);
}
