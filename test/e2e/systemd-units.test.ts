/**
 * init/systemd/* checked with the host's systemd-analyze, offline (no systemd needs to
 * run): `verify` must have nothing to say about the units, and `security` must rate
 * each service's exposure no worse than measured when its hardening was written. The
 * units are copied to a temp directory with ExecStart pointing at bin/, since verify
 * wants an executable there.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const UNITS = join(REPO, 'init/systemd');
const SERVICES = ['router', 'sub', 'worker', 'inputs'] as const;

/**
 * Highest overall exposure allowed, in systemd-analyze's tenths (12 = "1.2 OK"), as
 * measured with systemd 252. A setting dropped or loosened raises the score and fails the
 * test; a newer systemd with more checks may too: then look at what it reports.
 */
const MAX_EXPOSURE: Record<(typeof SERVICES)[number], number> = { router: 12, sub: 12, worker: 17, inputs: 15 };

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const opts = { skip: analyze.status === 0 ? false : 'systemd-analyze is not installed' };

let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'er-units-'));
  for (const file of readdirSync(UNITS)) {
    let text = readFileSync(join(UNITS, file), 'utf8');
    const name = /^event-(\w+)\.service$/.exec(file)?.[1];
    if (name !== undefined) {
      const from = `ExecStart=/usr/bin/event-${name} `;
      assert.ok(text.includes(from), `${file} has no "${from}"`);
    }
    // verify checks that each command exists: point them at bin/.
    text = text.replaceAll('ExecStart=/usr/bin/event-', `ExecStart=${join(REPO, 'bin')}/event-`);
    writeFileSync(join(dir, file), text);
  }
});

after(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[]): { code: number | null; out: string } {
  const r = spawnSync('systemd-analyze', args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** One service's [Service] settings as written, `key -> values` in order. */
function serviceSettings(name: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of readFileSync(join(UNITS, `event-${name}.service`), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) section = line;
    const m = /^(\w+)=(.*)$/.exec(line);
    if (section === '[Service]' && m) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
  }
  return settings;
}

test('systemd units - systemd-analyze verify has nothing to say about any unit', opts, () => {
  const files = readdirSync(dir).map((f) => `./${f}`);
  for (const unit of [
    'event-reactor.target',
    'event-router.service',
    'event-sub.service',
    'event-worker.service',
    'event-inputs.service',
    'event-reactor-prune.timer',
  ])
    assert.ok(files.includes(`./${unit}`), `${unit} missing from ${files.join(' ')}`);
  const r = run(['verify', ...files]);
  assert.equal(r.code, 0, r.out);
  assert.equal(r.out, '', `systemd-analyze verify:\n${r.out}`);
});

for (const name of SERVICES) {
  test(`systemd units - event-${name}.service exposure is at most ${MAX_EXPOSURE[name] / 10} (systemd-analyze security)`, opts, () => {
    const r = run(['security', '--offline=true', `--threshold=${MAX_EXPOSURE[name]}`, `./event-${name}.service`]);
    const overall = /Overall exposure level for event-\w+\.service: (\d+\.\d) (\w+)/.exec(r.out);
    assert.ok(overall, r.out);
    assert.equal(
      r.code,
      0,
      `exposure ${overall[1]} ${overall[2]} is above ${MAX_EXPOSURE[name] / 10}; not passed:\n${r.out
        .split('\n')
        .filter((l) => l.startsWith('✗'))
        .join('\n')}`,
    );
    assert.equal(overall[2], 'OK');
  });
}

test('systemd units - no service sets what would break node or ZeroMQ', () => {
  for (const name of SERVICES) {
    const s = serviceSettings(name);
    // V8's JIT writes the code it then runs.
    assert.ok(!s.has('MemoryDenyWriteExecute'), `event-${name}: MemoryDenyWriteExecute`);
    // An unlisted system call must fail, not kill: V8 and ZeroMQ handle EPERM, not SIGSYS.
    assert.deepEqual(s.get('SystemCallErrorNumber'), ['EPERM'], `event-${name}: SystemCallErrorNumber`);
    // ZeroMQ's I/O threads set their scheduling policy (@resources) and abort when refused.
    for (const filter of s.get('SystemCallFilter') ?? []) assert.doesNotMatch(filter, /@resources/, `event-${name}: SystemCallFilter=${filter}`);
  }
  // ZeroMQ looks up every tcp bind address as an interface name over netlink, and aborts when it cannot.
  assert.match(serviceSettings('router').get('RestrictAddressFamilies')?.join(' ') ?? '', /\bAF_NETLINK\b/);
});

test('systemd units - every service runs as event-reactor with a read-only file system but for what it writes', () => {
  const writable: Record<(typeof SERVICES)[number], string[]> = {
    router: ['/run/event-reactor'],
    sub: [],
    worker: ['/var/log/event-reactor'],
    inputs: [],
  };
  for (const name of SERVICES) {
    const s = serviceSettings(name);
    assert.deepEqual(s.get('User'), ['event-reactor'], `event-${name}: User`);
    assert.deepEqual(s.get('ProtectSystem'), ['strict'], `event-${name}: ProtectSystem`);
    assert.deepEqual(s.get('ReadWritePaths') ?? [], writable[name], `event-${name}: ReadWritePaths`);
    assert.deepEqual(s.get('CapabilityBoundingSet'), [''], `event-${name}: CapabilityBoundingSet`);
    // The inputs' disk beacon may watch a mount under /home: read-only there, hidden elsewhere.
    assert.deepEqual(s.get('ProtectHome'), [name === 'inputs' ? 'read-only' : 'yes'], `event-${name}: ProtectHome`);
    for (const key of ['PrivateDevices', 'PrivateTmp', 'NoNewPrivileges']) assert.deepEqual(s.get(key), ['yes'], `event-${name}: ${key}`);
    assert.deepEqual(s.get('UMask'), ['0077'], `event-${name}: UMask`);
    for (const key of ['MemoryMax', 'TasksMax', 'LimitNOFILE']) assert.equal(s.get(key)?.length, 1, `event-${name}: ${key}`);
  }
});
