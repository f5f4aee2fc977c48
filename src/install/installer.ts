import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { ServiceError } from '../errors.js';
import type { Step } from './plan.js';

const execFileAsync = promisify(execFile);

/** Options of {@link installSteps}; paths are as on the target system (`root` prefixes them all). */
export interface InstallOptions {
  /** Configuration directory; default /etc/event-reactor. */
  prefix: string;
  /** The system user the daemons run as; default event-reactor. */
  user: string;
  init: 'systemd' | 'sysv' | 'none';
  /** Everything happens below this directory (a staging or test root); default `/`. */
  root: string;
  /** The package's own files: etc/ samples and init/ scripts. */
  packageDir: string;
  /** Where the event-* executables are, written into the units and the SysV defaults. */
  binDir: string;
}

/** A user as /etc/passwd names it. */
interface Account {
  uid: number;
  gid: number;
}

const SYSTEMD_UNITS = [
  'event-router.service',
  'event-sub.service',
  'event-worker.service',
  'event-inputs.service',
  'event-reactor.target',
  'event-reactor-prune.service',
  'event-reactor-prune.timer',
];

/**
 * The steps that install event-reactor on a host: the system user, the configuration
 * directory with a sample config.json, an empty handler table and directory, keys and
 * secrets directories (the daemon user's alone), log and state directories, and the init
 * scripts, enabled. An operator's file is never overwritten: a differing one gets the new
 * version beside it as `NAME.new`.
 */
export function installSteps(o: InstallOptions): Step[] {
  const at = (p: string): string => join(o.root, p);
  let account: Account | undefined;
  const owner = (): Account => (account ??= lookupAccount(o.root, o.user));
  const steps: Step[] = [
    {
      describe: `system user ${o.user} (no login, home /var/lib/event-reactor)`,
      run: async () => {
        if (findAccount(o.root, o.user)) return 'exists';
        const args = ['--system', '--user-group', '--home-dir', '/var/lib/event-reactor', '--no-create-home', '--shell', '/usr/sbin/nologin'];
        await run('useradd', [...(o.root === '/' ? [] : ['--root', o.root]), ...args, o.user]);
        return 'created';
      },
    },
    dirStep(at(o.prefix), 0o755, undefined, 'configuration directory, root-owned'),
    dirStep(at(join(o.prefix, 'event-handlers')), 0o755, undefined, "handler directory, root's alone to change (the worker refuses handlers others can write)"),
    dirStep(at(join(o.prefix, 'keys')), 0o700, owner, `CURVE keys, ${o.user} only`),
    dirStep(at(join(o.prefix, 'keys', 'clients')), 0o755, owner, 'authorized client certificates'),
    dirStep(at(join(o.prefix, 'secrets')), 0o700, owner, `handler secrets, ${o.user} only`),
    dirStep(at('/var/log/event-reactor'), 0o750, owner, 'logs'),
    dirStep(at('/var/lib/event-reactor'), 0o750, owner, 'state'),
    fileStep(
      at(join(o.prefix, 'config.json')),
      readFileSync(join(o.packageDir, 'etc', 'config.json'), 'utf8'),
      0o644,
      'sample config.json (loopback addresses; see README)',
    ),
    fileStep(at(join(o.prefix, 'event-handlers.json')), '{}\n', 0o644, 'empty handler table'),
  ];
  if (o.init === 'systemd') {
    for (const unit of SYSTEMD_UNITS) {
      const text = readFileSync(join(o.packageDir, 'init', 'systemd', unit), 'utf8')
        .replaceAll('/usr/bin/event-', `${o.binDir}/event-`)
        .replaceAll('/etc/event-reactor', o.prefix);
      steps.push(fileStep(at(join('/etc/systemd/system', unit)), text, 0o644, `systemd unit ${unit}`));
    }
    steps.push({
      describe: 'systemd: reload units, enable event-reactor.target (router, sub, worker) and the prune timer',
      run: async () => {
        if (o.root === '/') await run('systemctl', ['daemon-reload']);
        await run('systemctl', [
          ...(o.root === '/' ? [] : [`--root=${o.root}`]),
          'enable',
          'event-reactor.target',
          'event-router.service',
          'event-sub.service',
          'event-worker.service',
          'event-reactor-prune.timer',
        ]);
        return 'enabled (start with: systemctl start event-reactor.target)';
      },
    });
  } else if (o.init === 'sysv') {
    const script = readFileSync(join(o.packageDir, 'init', 'init.d', 'event-reactor'), 'utf8');
    steps.push(fileStep(at('/etc/init.d/event-reactor'), script, 0o755, 'SysV script /etc/init.d/event-reactor'));
    steps.push(
      fileStep(
        at('/etc/default/event-reactor'),
        `# Settings for /etc/init.d/event-reactor (see its header)\nCONFIG=${o.prefix}/config.json\nBINDIR=${o.binDir}\nDAEMON_USER=${o.user}\n`,
        0o644,
        'SysV settings /etc/default/event-reactor',
      ),
    );
    steps.push(
      fileStep(
        at('/etc/cron.d/event-reactor-prune'),
        readFileSync(join(o.packageDir, 'init', 'cron', 'event-reactor-prune'), 'utf8')
          .replaceAll('/usr/bin/event-', `${o.binDir}/event-`)
          .replaceAll('/etc/event-reactor', o.prefix),
        0o644,
        'cron line for archive retention',
      ),
    );
    steps.push({
      describe: 'SysV: enable at boot (update-rc.d event-reactor defaults)',
      run: async () => {
        if (o.root !== '/') return `skipped below ${o.root}: run update-rc.d event-reactor defaults on the host`;
        await run('update-rc.d', ['event-reactor', 'defaults']);
        return 'enabled (start with: service event-reactor start)';
      },
    });
  }
  steps.push({
    describe: `CURVE keys: server and local pairs in ${o.prefix}/keys (event-reactor keys init)`,
    run: async () => {
      const { initKeys } = await import('../security/key-files.js');
      const r = initKeys(at(join(o.prefix, 'keys')));
      const { uid, gid } = owner();
      for (const f of [r.server.public, r.server.secret, r.local.public, r.local.secret, r.localAuthorized.file]) chownSync(f, uid, gid);
      return r.server.created || r.local.created ? 'created' : 'exist';
    },
  });
  return steps;
}

function dirStep(path: string, mode: number, owner: (() => Account) | undefined, what: string): Step {
  return {
    describe: `${path}: ${what} (mode ${mode.toString(8)})`,
    run: () => {
      const existed = existsSync(path);
      mkdirSync(path, { recursive: true, mode });
      const st = statSync(path);
      if (!st.isDirectory()) throw new ServiceError(`${path} exists and is not a directory`);
      const changes: string[] = [];
      if ((st.mode & 0o7777) !== mode) {
        chmodSync(path, mode);
        changes.push(`mode ${mode.toString(8)}`);
      }
      const want = owner?.() ?? { uid: 0, gid: 0 };
      if (st.uid !== want.uid || st.gid !== want.gid) {
        chownSync(path, want.uid, want.gid);
        changes.push('owner');
      }
      return existed ? (changes.length > 0 ? `fixed ${changes.join(', ')}` : 'unchanged') : 'created';
    },
  };
}

function fileStep(path: string, content: string, mode: number, what: string): Step {
  return {
    describe: `${path}: ${what}`,
    run: () => {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      if (!existsSync(path)) {
        writeFileSync(path, content, { mode });
        chmodSync(path, mode);
        return 'created';
      }
      if (readFileSync(path, 'utf8') === content) return 'unchanged';
      writeFileSync(`${path}.new`, content, { mode });
      chmodSync(`${path}.new`, mode);
      return `kept the operator's file; the new version is ${path}.new`;
    },
  };
}

function findAccount(root: string, user: string): Account | undefined {
  let passwd: string;
  try {
    passwd = readFileSync(join(root, 'etc', 'passwd'), 'utf8');
  } catch {
    return undefined;
  }
  const line = passwd.split('\n').find((l) => l.split(':')[0] === user);
  if (!line) return undefined;
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

function lookupAccount(root: string, user: string): Account {
  const a = findAccount(root, user);
  if (!a) throw new ServiceError(`user ${user} not found in ${join(root, 'etc', 'passwd')}`);
  return a;
}

async function run(command: string, args: string[]): Promise<void> {
  try {
    await execFileAsync(command, args);
  } catch (err) {
    const raw = (err as { stderr?: unknown }).stderr;
    const stderr = typeof raw === 'string' ? raw.trim() : '';
    throw new ServiceError(`${command} ${args.join(' ')} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}
