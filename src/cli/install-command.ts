import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { AuthError, UsageError } from '../errors.js';
import { reportError } from './common.js';
import { EXIT } from './exit-codes.js';

interface InstallFlags {
  prefix: string;
  user: string;
  systemd?: boolean;
  sysv?: boolean;
  dryRun?: boolean;
  root: string;
}

/** `event-reactor install`. */
export function configureInstallCommand(cmd: Command, result: { code: number }): Command {
  return cmd
    .description(
      "Install on this host: the event-reactor user, /etc/event-reactor (sample config, empty handler table and directory, keys and secrets), log and state directories, and the init scripts, enabled. Idempotent; never overwrites an operator's file (writes NAME.new beside it)",
    )
    .option('--prefix <dir>', 'configuration directory', '/etc/event-reactor')
    .option('--user <name>', 'system user the daemons run as', 'event-reactor')
    .option('--systemd', 'install and enable the systemd units (default where systemd runs)')
    .option('--sysv', 'install and enable the SysV script (default elsewhere)')
    .option('--dry-run', 'print every step, change nothing')
    .option('--root <dir>', 'install below this directory (a staging root), as DESTDIR does', '/')
    .action(async (flags: InstallFlags) => {
      try {
        if (flags.systemd && flags.sysv) throw new UsageError('--systemd and --sysv: give one');
        const init = flags.systemd ? 'systemd' : flags.sysv ? 'sysv' : existsSync('/run/systemd/system') ? 'systemd' : 'sysv';
        if (!flags.dryRun && process.getuid?.() !== 0)
          throw new AuthError('install changes users, /etc and init scripts: run it as root (or see what it would do with --dry-run)');
        const { installSteps } = await import('../install/installer.js');
        const steps = installSteps({
          prefix: flags.prefix,
          user: flags.user,
          init,
          root: resolve(flags.root),
          packageDir: packageDir(),
          binDir: dirname(process.argv[1] ?? '/usr/bin/event-reactor'),
        });
        for (const [i, step] of steps.entries()) {
          const n = `[${i + 1}/${steps.length}]`;
          if (flags.dryRun) {
            process.stdout.write(`${n} would ensure ${step.describe}\n`);
            continue;
          }
          process.stdout.write(`${n} ${step.describe}: ${await step.run()}\n`);
        }
        if (!flags.dryRun) process.stdout.write(`installed; check the configuration with: event-reactor check-config -c ${flags.prefix}/config.json\n`);
        result.code = EXIT.OK;
      } catch (err) {
        result.code = reportError(err, 'event-reactor install');
      }
    });
}

/** The installed package's directory (holding etc/ and init/), found from this module. */
function packageDir(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'event-reactor') return dir;
  }
  throw new UsageError('cannot find the event-reactor package directory (with etc/ and init/) above this program');
}
