/**
 * A MongoDB `$regex` source matching what the fnmatch glob `glob` matches on a whole key
 * (`*` any run, `?` one character, `[...]`/`[!...]` a class). Anchored, so a glob with a
 * literal head (`local:disk.*`) becomes a prefix regex the server can answer from the
 * `{key, time}` index.
 */
export function globToRegexSource(glob: string): string {
  let out = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negated = body.startsWith('!');
      if (negated) body = body.slice(1);
      out += `[${negated ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return `${out}$`;
}

/** True when `glob` has no glob characters: an exact key. */
export function isExactKey(glob: string): boolean {
  return !/[*?[]/.test(glob);
}
