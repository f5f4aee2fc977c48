import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandlerRefusedError } from '../../src/errors.js';
import { assertSafeForRoot } from '../../src/handlers/handler-safety.js';
import { ShellDriver } from '../../src/handlers/shell-driver.js';
import { TsfuncDriver } from '../../src/handlers/tsfunc-driver.js';
import { checkConfig } from '../../src/config/check-config.js';
import { runContext, sampleEvent } from '../helpers/events.js';

const AS_ROOT = process.getuid?.() === 0;
const skip = AS_ROOT ? false : 'the check only applies when running as root';
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A root-owned handler directory (0755) with a script (0755) and a module (0644). */
function setup(): { root: string; dir: string; script: string; module: string } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'er-safety-')));
  roots.push(root);
  const dir = join(root, 'event-handlers');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'sub'), 0o755);
  const script = join(dir, 'sub', 'x.sh');
  writeFileSync(script, '#!/bin/sh\necho ok\n');
  chmodSync(script, 0o755);
  const module = join(dir, 'mod.ts');
  writeFileSync(module, 'export function run(): string {\n  return "ok";\n}\n');
  chmodSync(module, 0o644);
  return { root, dir, script, module };
}

const refused = (re: RegExp) => (err: unknown) => err instanceof HandlerRefusedError && re.test(err.message);

test('handler safety - root-owned files and directories writable only by root pass', { skip }, () => {
  const { dir, script, module } = setup();
  assertSafeForRoot(dir, script, 0);
  assertSafeForRoot(dir, module, 0);
});

test('handler safety - a world-writable file is refused, naming the file, the mode and the fix', { skip }, () => {
  const { dir, script } = setup();
  chmodSync(script, 0o757);
  assert.throws(() => assertSafeForRoot(dir, script, 0), refused(new RegExp(`^${script} is writable by others \\(mode 0757\\); fix with chmod o-w `)));
});

test('handler safety - group-writable, and group- and world-writable, files are refused', { skip }, () => {
  const { dir, script } = setup();
  chmodSync(script, 0o775);
  assert.throws(() => assertSafeForRoot(dir, script, 0), refused(/is writable by its group \(mode 0775\); fix with chmod g-w/));
  chmodSync(script, 0o777);
  assert.throws(() => assertSafeForRoot(dir, script, 0), refused(/is writable by group and others \(mode 0777\); fix with chmod go-w/));
});

test('handler safety - a file owned by another user is refused', { skip }, () => {
  const { dir, script } = setup();
  chownSync(script, 1234, 0);
  assert.throws(() => assertSafeForRoot(dir, script, 0), refused(new RegExp(`^${script} is owned by uid 1234, not root; fix with chown root`)));
});

test('handler safety - every directory up to the handler directory is checked, and those above it up to /', { skip }, () => {
  const { root, dir, script } = setup();
  chmodSync(join(dir, 'sub'), 0o777);
  assert.throws(() => assertSafeForRoot(dir, script, 0), refused(new RegExp(`^directory ${join(dir, 'sub')} is writable by group and others`)));
  chmodSync(join(dir, 'sub'), 0o755);
  chmodSync(dir, 0o1777);
  assert.throws(() => assertSafeForRoot(dir, script, 0), refused(new RegExp(`^directory ${dir} is writable by group and others \\(mode 1777\\)`)));
  chmodSync(dir, 0o755);
  // Above the handler directory: whoever may write there could swap the directory itself.
  chmodSync(root, 0o777);
  assert.throws(
    () => assertSafeForRoot(dir, script, 0),
    refused(new RegExp(`^directory ${root} is writable by group and others.*it holds the handler directory ${dir}$`)),
  );
  chmodSync(root, 0o1777); // sticky, as /tmp: nobody else can rename what root owns in it
  assertSafeForRoot(dir, script, 0);
  chownSync(root, 1234, 0);
  assert.throws(() => assertSafeForRoot(dir, script, 0), refused(new RegExp(`^directory ${root} is owned by uid 1234, not root`)));
  chownSync(root, 0, 0);
  chmodSync(root, 0o700);
});

test('handler safety - not applied when the process is not root', () => {
  const { dir, script } = setup();
  chmodSync(script, 0o777);
  assertSafeForRoot(dir, script, 1000);
});

test('handler safety - the shell driver records a refusal instead of running the file', { skip }, async () => {
  const { dir, script } = setup();
  chmodSync(script, 0o777);
  const driver = new ShellDriver({ handlersDir: dir, outputLimitBytes: 1024 });
  const out = await driver.run({ id: 'h', key: 'local:t', driver: 'shell', command: 'sub/x.sh', exclusive: false }, sampleEvent(), runContext());
  assert.equal(out.status, 'error');
  assert.equal(out.errorCode, 'ERR_HANDLER_REFUSED');
  assert.match(out.error ?? '', /sub\/x\.sh is writable by group and others \(mode 0777\)/);
});

test('handler safety - commands found on PATH are not checked', { skip }, async () => {
  const { dir } = setup();
  const driver = new ShellDriver({ handlersDir: dir, outputLimitBytes: 1024 });
  assert.equal(driver.resolveCommand('true'), 'true');
});

test('handler safety - the tsfunc driver refuses a group-writable module', { skip }, async () => {
  const { dir, module } = setup();
  chmodSync(module, 0o664);
  const driver = new TsfuncDriver({ handlersDir: dir, outputLimitBytes: 1024 });
  assert.throws(() => driver.locate('mod.run'), refused(/mod\.ts is writable by its group \(mode 0664\)/));
  const out = await driver.run({ id: 'h', key: 'local:t', driver: 'tsfunc', command: 'mod.run', exclusive: false }, sampleEvent(), runContext());
  assert.equal(out.errorCode, 'ERR_HANDLER_REFUSED');
});

test('handler safety - check-config reports the same problem with file and key path', { skip }, () => {
  const { root, dir, script } = setup();
  chmodSync(script, 0o757);
  const config = join(root, 'config.json');
  writeFileSync(config, JSON.stringify({ event_handlers_dir: dir }));
  writeFileSync(
    join(root, 'event-handlers.json'),
    JSON.stringify({
      'local:t': [
        { driver: 'shell', handler: 'sub/x.sh' },
        { driver: 'tsfunc', handler: 'mod.run' },
      ],
    }),
  );
  const report = checkConfig(config, undefined);
  assert.equal(report.problems.length, 1);
  assert.equal(report.problems[0]!.path, 'local:t[0].handler');
  assert.match(report.problems[0]!.message, /x\.sh is writable by others \(mode 0757\); fix with chmod o-w/);
});
