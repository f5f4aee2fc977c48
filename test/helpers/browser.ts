/**
 * Headless Chromium for the web console's tests, driven by playwright-core.
 *
 * The browser is Debian's `chromium` package at /usr/bin/chromium. When it is missing and
 * this process is root with apt-get (CI and the development machines), it is installed
 * with `apt-get install -y --no-install-recommends chromium`; otherwise the tests fail
 * saying how to install it. No browser is ever downloaded from anywhere else (no
 * `playwright install`): the machines reach Debian's archive, and that is enough.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Flags for a quiet, self-contained headless run: no network of its own, no GPU, no sandbox (root). */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** How long an apt-get step may take: a fresh machine downloads about 100 MB. */
const APT_TIMEOUT_MS = 15 * 60_000;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: APT_TIMEOUT_MS,
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      output += err.message;
      resolve(null);
    });
    child.once('exit', (c) => resolve(c));
  });
  return { code, output: output.slice(-2000) };
}

let installing: Promise<string> | undefined;

/**
 * The path of Debian's Chromium, installing it first when it is missing and we may.
 *
 * @throws {Error} saying how to install it when it is missing and cannot be installed here
 */
export function ensureChromium(): Promise<string> {
  installing ??= (async () => {
    if (executable(CHROMIUM)) return CHROMIUM;
    const root = process.getuid?.() === 0;
    if (!root || !executable('/usr/bin/apt-get')) {
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium package (sudo apt-get install -y --no-install-recommends chromium); ` +
          `the browser tests install it themselves only when run as root on a system with apt-get`,
      );
    }
    process.stderr.write(`test/helpers/browser: ${CHROMIUM} is missing; installing Debian's chromium package with apt-get\n`);
    // Wait for another apt run (unattended upgrades) rather than fail on its lock.
    const install = ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-install-recommends', 'chromium'];
    let r = await run('apt-get', install);
    if (r.code !== 0) {
      // A fresh machine may have no package lists yet, or stale ones.
      await run('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update']);
      r = await run('apt-get', install);
    }
    if (r.code !== 0 || !executable(CHROMIUM)) throw new Error(`apt-get install chromium failed (exit ${r.code}):\n${r.output}`);
    return CHROMIUM;
  })();
  // A failed attempt may be retried by a later call.
  installing.catch(() => (installing = undefined));
  return installing;
}

/** A headless Chromium with a profile of its own, removed on close. */
export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  const executablePath = await ensureChromium();
  const profile = mkdtempSync(join(tmpdir(), 'er-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: ARGS, timeout: 60_000 });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    context,
    close() {
      closing ??= context
        .close()
        .catch(() => undefined)
        .then(() => rmSync(profile, { recursive: true, force: true }));
      return closing;
    },
  };
}
