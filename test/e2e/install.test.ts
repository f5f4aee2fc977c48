import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NOT_BUILT, runBin } from '../helpers/bins.js';

const asRoot = process.getuid?.() === 0 ? false : 'install needs root (it creates a user and chowns)';

/** A staging root with this host's account files, as `useradd --root` needs them. */
function stagingRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'er-install-'));
  mkdirSync(join(root, 'etc'));
  for (const f of ['passwd', 'group', 'shadow', 'gshadow', 'login.defs']) if (existsSync(`/etc/${f}`)) copyFileSync(`/etc/${f}`, join(root, 'etc', f));
  return root;
}

function uidOf(root: string, user: string): number {
  const line = readFileSync(join(root, 'etc/passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  assert.ok(line, `${user} not in ${root}/etc/passwd`);
  return Number(line.split(':')[2]);
}

const mode = (p: string): string => (statSync(p).mode & 0o7777).toString(8);

test(
  'install - creates the user, directories with their owners and modes, config, units (enabled) and keys; a second run changes nothing',
  { skip: NOT_BUILT || asRoot },
  async () => {
    const root = stagingRoot();
    const first = await runBin('event-reactor', ['install', '--systemd', '--root', root, '--user', 'er-test']);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const uid = uidOf(root, 'er-test');
    const etc = join(root, 'etc/event-reactor');
    assert.deepEqual([mode(etc), statSync(etc).uid], ['755', 0]);
    assert.deepEqual([mode(join(etc, 'event-handlers')), statSync(join(etc, 'event-handlers')).uid], ['755', 0]);
    assert.deepEqual([mode(join(etc, 'keys')), statSync(join(etc, 'keys')).uid], ['700', uid]);
    assert.deepEqual([mode(join(etc, 'secrets')), statSync(join(etc, 'secrets')).uid], ['700', uid]);
    assert.deepEqual([mode(join(root, 'var/log/event-reactor')), statSync(join(root, 'var/log/event-reactor')).uid], ['750', uid]);
    assert.deepEqual(JSON.parse(readFileSync(join(etc, 'event-handlers.json'), 'utf8')), {});
    assert.equal(statSync(join(etc, 'keys/server.key_secret')).uid, uid);
    assert.equal(mode(join(etc, 'keys/server.key_secret')), '600');
    assert.ok(existsSync(join(etc, 'keys/clients/local.key')));
    const unit = readFileSync(join(root, 'etc/systemd/system/event-router.service'), 'utf8');
    assert.match(unit, /^ExecStart=\S+\/bin\/event-router -c \/etc\/event-reactor\/config\.json/m);
    assert.ok(
      readdirSync(join(root, 'etc/systemd/system')).some((d) => d.endsWith('.wants')),
      'units enabled (systemctl --root made .wants links)',
    );

    const second = await runBin('event-reactor', ['install', '--systemd', '--root', root, '--user', 'er-test']);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(second.stdout, /: created/, second.stdout);
    assert.match(second.stdout, /system user er-test .*: exists/);
  },
);

test("install - never overwrites an operator's file: the new version goes beside it as .new", { skip: NOT_BUILT || asRoot }, async () => {
  const root = stagingRoot();
  assert.equal((await runBin('event-reactor', ['install', '--sysv', '--root', root, '--user', 'er-test2'])).code, 0);
  const cfg = join(root, 'etc/event-reactor/config.json');
  writeFileSync(cfg, '{"logging": {"loglevel": "DEBUG"}}\n');
  const again = await runBin('event-reactor', ['install', '--sysv', '--root', root, '--user', 'er-test2']);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /config\.json: .*kept the operator's file; the new version is .*config\.json\.new/);
  assert.equal(readFileSync(cfg, 'utf8'), '{"logging": {"loglevel": "DEBUG"}}\n');
  assert.ok(existsSync(`${cfg}.new`));
  assert.equal(mode(join(root, 'etc/init.d/event-reactor')), '755');
  assert.match(readFileSync(join(root, 'etc/default/event-reactor'), 'utf8'), /^DAEMON_USER=er-test2$/m);
});

test('install - --dry-run prints every step and changes nothing', { skip: NOT_BUILT }, async () => {
  const root = stagingRoot();
  const r = await runBin('event-reactor', ['install', '--dry-run', '--systemd', '--root', root]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\[1\/\d+\] would ensure system user event-reactor/);
  assert.match(r.stdout, /would ensure .*event-worker\.service/);
  assert.equal(existsSync(join(root, 'etc/event-reactor')), false);
});
