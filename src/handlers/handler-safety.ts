import { statSync } from 'node:fs';
import { dirname, isAbsolute, relative, sep } from 'node:path';
import { HandlerRefusedError } from '../errors.js';

/**
 * The rule cron and sudo apply before running a file as root: refuse it when it, or a
 * directory it lies in, could be changed by someone other than root. Checked are the
 * handler file, every directory from it up to and including the handler directory, and
 * the directories above that up to `/` (where a sticky, world-writable one such as /tmp
 * is fine: nobody else can rename what root owns in it).
 * Applies only when the process runs as root (`uid` 0); commands found on PATH or given
 * by absolute path outside the handler directory are not checked.
 *
 * @param root - handler directory, symlinks resolved
 * @param file - handler file inside `root`, symlinks resolved (a file elsewhere is
 *   checked alone, without its directories)
 * @param uid - the process's user id; `process.getuid()` unless a test says otherwise
 * @throws {HandlerRefusedError} naming the first path with a problem and how to fix it
 */
export function assertSafeForRoot(root: string, file: string, uid: number | undefined = process.getuid?.()): void {
  if (uid !== 0) return;
  const problem = ownershipProblem(file, 'file');
  if (problem) throw new HandlerRefusedError(problem);
  const rel = relative(root, file);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return;
  let dir = file;
  do {
    dir = dirname(dir);
    const p = ownershipProblem(dir, 'directory');
    if (p) throw new HandlerRefusedError(p);
  } while (dir !== root && dirname(dir) !== dir);
  // Above the handler directory, whoever can write a directory can swap what lies below
  // it, unless the sticky bit stops them (as on /tmp).
  for (let up = dirname(root); ; up = dirname(up)) {
    const p = ownershipProblem(up, 'directory', { stickyOk: true });
    if (p) throw new HandlerRefusedError(`${p}; it holds the handler directory ${root}`);
    if (dirname(up) === up) break;
  }
}

/** What is wrong with `path` for a root-run handler, or undefined when nothing is. */
export function ownershipProblem(path: string, what: 'file' | 'directory', options: { stickyOk?: boolean } = {}): string | undefined {
  const st = statSync(path);
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  const subject = what === 'file' ? path : `directory ${path}`;
  const advice = 'handlers run as root only when root alone can change them';
  if (st.uid !== 0) {
    return `${subject} is owned by uid ${st.uid}, not root; fix with chown root ${path} (${advice})`;
  }
  if (options.stickyOk && (st.mode & 0o1000) !== 0) return undefined;
  const group = (st.mode & 0o020) !== 0;
  const others = (st.mode & 0o002) !== 0;
  if (group && others) return `${subject} is writable by group and others (mode ${mode}); fix with chmod go-w ${path} (${advice})`;
  if (others) return `${subject} is writable by others (mode ${mode}); fix with chmod o-w ${path} (${advice})`;
  if (group) return `${subject} is writable by its group (mode ${mode}); fix with chmod g-w ${path} (${advice})`;
  return undefined;
}
