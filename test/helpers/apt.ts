import { execFileSync } from 'node:child_process';

/**
 * Make sure a Debian package a test needs is installed: `probe()` says whether it is;
 * when not, and this process is root with apt-get, it is installed
 * (`apt-get install -y --no-install-recommends`). Returns why it cannot be, or undefined
 * when it is there: a test skips with that reason rather than fail on a machine that
 * cannot have it.
 */
export function ensureDebianPackage(pkg: string, probe: () => boolean): string | undefined {
  if (probe()) return undefined;
  if (process.getuid?.() !== 0) return `${pkg} is not installed, and installing it needs root (apt-get install ${pkg})`;
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { env, stdio: 'ignore', timeout: 600_000 });
  } catch {
    try {
      execFileSync('apt-get', ['update'], { stdio: 'ignore', timeout: 600_000 });
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], {
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        stdio: 'ignore',
        timeout: 600_000,
      });
    } catch (err) {
      return `apt-get install ${pkg} failed: ${(err as Error).message}`;
    }
  }
  return probe() ? undefined : `${pkg} was installed but is still not usable`;
}

/** True when `/usr/bin/python3` imports `module`. */
export function pythonHas(module: string): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', `import ${module}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
