import { ConfigError, type ConfigProblem } from '../errors.js';
import { ShellDriver } from '../handlers/shell-driver.js';
import { TsfuncDriver } from '../handlers/tsfunc-driver.js';
import { PyfuncDriver } from '../handlers/pyfunc-driver.js';
import { splitArgv } from '../handlers/argv.js';
import { readSecretFile } from '../security/secret-file.js';
import { loadConfig } from './load.js';
import { loadHandlersFile } from './handlers-file.js';
import { routerBinds } from './router-binds.js';
import type { ReactorSettings } from './settings.js';
import { exposedEndpoints, protectedModeMessage } from '../security/exposure.js';
import { localClientKeys, serverKeyPair } from '../security/key-files.js';

export interface CheckReport {
  problems: ConfigProblem[];
  warnings: ConfigProblem[];
  keys: number;
  handlers: number;
}

/**
 * Validate config.json and event-handlers.json with the same code the daemons use,
 * collecting every problem, and check that each handler can be found.
 */
export function checkConfig(path: string | undefined, handlersFile: string | undefined): CheckReport {
  const report: CheckReport = { problems: [], warnings: [], keys: 0, handlers: 0 };
  let loaded;
  try {
    loaded = loadConfig({ path, overrides: handlersFile ? { handlersFile } : {} });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report.problems.push(...err.problems);
    return report;
  }
  const { settings } = loaded;
  report.warnings.push(...loaded.warnings);
  report.warnings.push(...securityNotes(settings));
  report.problems.push(...keyProblems(settings));
  // The inputs' secret files, as the inputs daemon checks them when it starts.
  for (const input of settings.inputs.list) {
    const files: [string, string][] = [];
    if (input.handler === 'HTTPInput') {
      if (input.config.token_file !== undefined) files.push([input.config.token_file, `${input.at}.config.token_file`]);
      for (const [name, h] of Object.entries(input.config.hooks))
        if (h.hmac_secret_file !== undefined) files.push([h.hmac_secret_file, `${input.at}.config.hooks.${name}.hmac_secret_file`]);
    }
    if (input.handler === 'MQTTInput' && input.config.password_file !== undefined) files.push([input.config.password_file, `${input.at}.config.password_file`]);
    for (const [file, at] of files) {
      try {
        readSecretFile(file, at);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        report.problems.push(...err.problems);
      }
    }
  }
  let table;
  try {
    const h = loadHandlersFile(settings.handlersFile);
    table = h.table;
    report.warnings.push(...h.warnings);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report.problems.push(...err.problems);
    return report;
  }
  const opts = { handlersDir: settings.handlersDir, outputLimitBytes: settings.worker.outputLimitBytes };
  const shell = new ShellDriver(opts);
  const tsfunc = new TsfuncDriver(opts);
  const pyfunc = new PyfuncDriver(opts);
  for (const [key, specs] of table) {
    if (specs.length > 0) report.keys++;
    specs.forEach((spec, i) => {
      report.handlers++;
      const at = `${key}[${i}].handler`;
      try {
        if (spec.driver === 'tsfunc') tsfunc.locate(spec.command);
        else if (spec.driver === 'pyfunc') pyfunc.locate(spec.command);
        else if (spec.driver === 'shell') shell.resolveCommand(splitArgv(spec.command)[0]!);
      } catch (err) {
        report.problems.push({ file: settings.handlersFile, path: at, message: (err as Error).message });
      }
    });
  }
  return report;
}

/** Protected mode, explained: what event-router will do with these binds. */
function securityNotes(settings: ReactorSettings): ConfigProblem[] {
  if (settings.security.curve) return [];
  const exposed = exposedEndpoints(routerBinds(settings.router));
  if (exposed.length === 0) return [];
  const where = { file: settings.configFile, path: 'security' };
  if (settings.security.allowInsecure) {
    return [
      { ...where, message: `security.allow_insecure is set: the router accepts unauthenticated clients on ${exposed.map((e) => e.endpoint).join(', ')}` },
    ];
  }
  return [{ ...where, message: `event-router will refuse to start (exit 78): ${protectedModeMessage(exposed)}` }];
}

/** Under CURVE, the certificates the daemons need must be there and safe. */
function keyProblems(settings: ReactorSettings): ConfigProblem[] {
  if (!settings.security.curve) return [];
  const out: ConfigProblem[] = [];
  for (const check of [() => serverKeyPair(settings.security.keysDir), () => localClientKeys(settings.security.keysDir)]) {
    try {
      check();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      out.push(...err.problems.map((p) => ({ ...p, message: `${p.message} (security.curve needs it; make the keys with: event-reactor keys init)` })));
    }
  }
  return out;
}
