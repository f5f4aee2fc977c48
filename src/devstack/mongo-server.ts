import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MongoClient } from 'mongodb';
import { ServiceError } from '../errors.js';
import type { Logger } from '../logger.js';
import { canConnect } from './can-connect.js';
import { findExecutable, isExecutable, launchService, type LocalService } from './local-service.js';

const execFileAsync = promisify(execFile);

/** FerretDB release built by {@link installFerretdb}; its SQLite backend needs no other server. */
export const FERRETDB_VERSION = 'v1.24.2';
const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';
const MIN_GO = [1, 22] as const;
const ALTERNATIVES = 'or set FERRETDB_BIN to a ferretdb binary, or MONGO_URL to a running MongoDB';

/** Options for {@link startMongo}. */
export interface StartMongoOptions {
  log: Logger;
  /** How long to wait for the server to answer `ping`, in ms; default 30000. */
  timeoutMs?: number;
}

/** Options for {@link installFerretdb}. */
export interface InstallFerretdbOptions {
  /** Directory to put the `ferretdb` binary in; default `$(go env GOPATH)/bin`. */
  destDir?: string;
  /** Release tag; default {@link FERRETDB_VERSION}. */
  version?: string;
}

/**
 * Find a ferretdb binary: env `FERRETDB_BIN`, then PATH, then `$(go env GOPATH)/bin`, then
 * `~/go/bin`.
 *
 * @returns its path, or undefined when there is none
 * @throws {ServiceError} when `FERRETDB_BIN` is set but not an executable file
 */
export async function findFerretdb(): Promise<string | undefined> {
  const fromEnv = process.env.FERRETDB_BIN;
  if (fromEnv) {
    if (await isExecutable(fromEnv)) return fromEnv;
    throw new ServiceError(`FERRETDB_BIN=${fromEnv} is not an executable file`);
  }
  const onPath = await findExecutable('ferretdb');
  if (onPath) return onPath;
  const gopath = await goBinDir().catch(() => undefined);
  for (const dir of [gopath, join(homedir(), 'go', 'bin')]) {
    if (dir && (await isExecutable(join(dir, 'ferretdb')))) return join(dir, 'ferretdb');
  }
  return undefined;
}

/**
 * Build FerretDB from its module source with the local Go toolchain (Go >= 1.22) and put
 * the binary in `destDir`. `go install ...@version` cannot be used: the module proxy may
 * refuse the version list, and a plain build has an empty `build/version/version.txt` and
 * panics at start; so the module is downloaded, copied, stamped with its version and built.
 * Takes ~10 s with a warm Go cache, a minute or more cold.
 *
 * @returns the path of the built binary
 * @throws {ServiceError} when Go is missing or too old, or the download or build fails
 */
export async function installFerretdb(log: Logger, options: InstallFerretdbOptions = {}): Promise<string> {
  const version = options.version ?? FERRETDB_VERSION;
  const go = await findGo();
  const destDir = options.destDir ?? (await goBinDir());
  const dest = join(destDir, 'ferretdb');
  const started = Date.now();
  log.info({ version, dest }, 'building ferretdb with go (a minute or more on a cold cache)');

  const work = await mkdtemp(join(tmpdir(), 'event-reactor-ferretdb-build-'));
  // A go.work in the environment would pull the copy into someone else's workspace.
  const env = { ...process.env, GOWORK: 'off' };
  try {
    const download = await runGo(go, ['mod', 'download', '-json', `${FERRETDB_MODULE}@${version}`], work, env);
    const moduleDir = parseModuleDir(download);
    const src = join(work, 'src');
    await cp(moduleDir, src, { recursive: true });
    // The module cache is read-only; the copy inherits its modes.
    await execFileAsync('chmod', ['-R', 'u+w', src]);
    await writeFile(join(src, 'build', 'version', 'version.txt'), `${version}\n`);
    await mkdir(destDir, { recursive: true });
    await runGo(go, ['build', '-o', dest, './cmd/ferretdb'], src, env);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  log.info({ version, dest, ms: Date.now() - started }, 'built ferretdb');
  return dest;
}

/**
 * Start a throwaway MongoDB-compatible server on a free 127.0.0.1 port: `mongod` when one is
 * on PATH, otherwise FerretDB with its SQLite backend (built first if no binary is found).
 * Ready once it answers a `ping` command.
 *
 * @throws {ServiceError} when no server can be found or built, or it does not start
 */
export async function startMongo(options: StartMongoOptions): Promise<LocalService> {
  const server = await mongoServerCommand(options.log);
  return launchService({
    ...server,
    url: (port) => `mongodb://127.0.0.1:${port}/`,
    ready: pingMongo,
    log: options.log,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
}

/** How to run a MongoDB-compatible server on a port with its data in a directory. */
export interface ServerCommand {
  name: 'mongod' | 'ferretdb';
  command: string;
  /** `host`: the address to listen on; default 127.0.0.1 (tests of other hosts give another). */
  args: (port: number, dir: string, host?: string) => string[];
}

/**
 * `mongod` when one is on PATH, else FerretDB on SQLite (built with Go when missing).
 *
 * @throws {ServiceError} when neither can be found or built
 */
export async function mongoServerCommand(log: Logger): Promise<ServerCommand> {
  const mongod = await findExecutable('mongod');
  if (mongod) {
    return { name: 'mongod', command: mongod, args: (port, dir, host = '127.0.0.1') => ['--dbpath', dir, '--port', String(port), '--bind_ip', host] };
  }
  const ferretdb = (await findFerretdb()) ?? (await installFerretdb(log));
  return {
    name: 'ferretdb',
    command: ferretdb,
    args: (port, dir, host = '127.0.0.1') => [
      '--handler=sqlite',
      // The trailing slash matters: the SQLite backend wants a directory URL.
      `--sqlite-url=file:${dir}/`,
      `--listen-addr=${host}:${port}`,
      `--state-dir=${dir}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=warn',
    ],
  };
}

/** One readiness probe: a TCP connect (cheap), then a MongoDB `ping`. */
export async function pingMongo(port: number): Promise<boolean> {
  if (!(await canConnect('127.0.0.1', port))) return false;
  const client = new MongoClient(`mongodb://127.0.0.1:${port}/`, {
    serverSelectionTimeoutMS: 1000,
    connectTimeoutMS: 1000,
    directConnection: true,
  });
  try {
    const reply = await client.db('admin').command({ ping: 1 });
    return reply.ok === 1;
  } finally {
    await client.close();
  }
}

async function findGo(): Promise<string> {
  const go = await findExecutable('go');
  const needed = `Go >= ${MIN_GO.join('.')} is needed to build FerretDB`;
  if (!go) throw new ServiceError(`go not found on PATH: ${needed}; install Go (https://go.dev/dl/) ${ALTERNATIVES}`);
  const { stdout } = await execFileAsync(go, ['env', 'GOVERSION']).catch((err: unknown) => {
    throw new ServiceError(`could not run ${go} env GOVERSION: ${needed} ${ALTERNATIVES}`, { cause: err });
  });
  const match = /^go(\d+)\.(\d+)/.exec(stdout.trim());
  const major = Number(match?.[1] ?? 0);
  const minor = Number(match?.[2] ?? 0);
  if (major < MIN_GO[0] || (major === MIN_GO[0] && minor < MIN_GO[1])) {
    throw new ServiceError(`${go} is ${stdout.trim() || 'of unknown version'}: ${needed}; upgrade Go ${ALTERNATIVES}`);
  }
  return go;
}

/** `$(go env GOPATH)/bin`, using the first entry of a GOPATH list. */
async function goBinDir(): Promise<string> {
  const go = await findGo();
  const { stdout } = await execFileAsync(go, ['env', 'GOPATH']);
  const first = stdout.trim().split(':')[0];
  return join(first || join(homedir(), 'go'), 'bin');
}

async function runGo(go: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await execFileAsync(go, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: unknown; stderr?: unknown };
    const output = [stdout, stderr].filter((s): s is string => typeof s === 'string' && s.trim() !== '').join('\n');
    const tail = output.trim().split('\n').slice(-20).join('\n');
    throw new ServiceError(`go ${args.join(' ')} failed${tail ? `:\n${tail}` : ''}`, { cause: err });
  }
}

function parseModuleDir(json: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new ServiceError(`go mod download printed something that is not JSON: ${json.slice(0, 200)}`, { cause: err });
  }
  const info = parsed as { Dir?: unknown; Error?: unknown };
  if (typeof info.Error === 'string') throw new ServiceError(`go mod download failed: ${info.Error}`);
  if (typeof info.Dir !== 'string' || info.Dir === '') {
    throw new ServiceError(`go mod download did not report a module directory: ${json.slice(0, 200)}`);
  }
  return info.Dir;
}
