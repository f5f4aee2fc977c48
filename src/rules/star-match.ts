/**
 * Matching a string against literal segments separated by `*` (each `*` any run of
 * characters, empty included), with native string search: the first segment must start
 * the string, the last must end it, and each middle segment is placed leftmost after the
 * previous one, which leaves the most room for the rest, so no backtracking is needed.
 * Cost: O(string × segments) in the worst case of `indexOf`, usually linear.
 */

/**
 * A matcher for `segments` (the literal runs between stars: `a*b*c` is `['a', 'b', 'c']`,
 * `*a` is `['', 'a']`); a single segment means no star (equality).
 */
export function starMatcher(segments: readonly string[]): (s: string) => boolean {
  if (segments.length === 0) throw new RangeError('starMatcher needs at least one segment');
  const first = segments[0]!;
  if (segments.length === 1) return (s) => s === first;
  const last = segments[segments.length - 1]!;
  const middle = segments.slice(1, -1).filter((m) => m !== '');
  const minLength = segments.reduce((n, m) => n + m.length, 0);
  if (middle.length === 0) return (s) => s.length >= minLength && s.startsWith(first) && s.endsWith(last);
  return (s) => {
    if (s.length < minLength || !s.startsWith(first) || !s.endsWith(last)) return false;
    let at = first.length;
    const end = s.length - last.length;
    for (const m of middle) {
      const found = s.indexOf(m, at);
      if (found < 0 || found + m.length > end) return false;
      at = found + m.length;
    }
    return true;
  };
}
