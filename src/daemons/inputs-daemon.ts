import type { Logger } from '../logger.js';
import { createRegistry } from '../metrics.js';
import type { ReactorSettings } from '../config/settings.js';
import { ConfigError } from '../errors.js';
import { CloserStack } from '../lifecycle/closers.js';
import type { OpsServer } from '../http/ops-server.js';
import { localClientKeys } from '../security/key-files.js';
import { Forwarder } from '../inputs/forwarder.js';
import { InputMetrics, InputPipe, type Input } from '../inputs/input.js';
import { createInput } from '../inputs/create-input.js';
import type { Daemon } from './daemon.js';
import { startOps } from './ops.js';

export interface InputsDaemon extends Daemon {
  inputs: readonly Input[];
  forwarder: Forwarder;
  /** Its metrics and health endpoints. */
  http: OpsServer;
}

/**
 * Run every input of `feeds.feeders` / `inputs` but ZMQInput, forwarding their events to
 * the router's REP socket (CURVE with this host's local pair under `security.curve`).
 * `/readyz` has a part per input (`input:NAME`) and one for the router. Inputs close
 * first (stop taking, drain briefly), then the router sockets.
 */
export async function startInputsDaemon(settings: ReactorSettings, log: Logger): Promise<InputsDaemon> {
  const ilog = log.child({ component: 'inputs' });
  const { routerUri, routerTimeoutMs, list } = settings.inputs;
  if (!routerUri) {
    throw new ConfigError([
      {
        file: settings.configFile,
        path: 'feeds.router_uri',
        message: 'the inputs daemon needs the router REP endpoint: add a ZMQInput feeder or set feeds.router_uri',
      },
    ]);
  }
  const closers = new CloserStack(ilog);
  try {
    const registry = createRegistry('inputs');
    const metrics = new InputMetrics(registry);
    const curve = settings.security.curve ? localClientKeys(settings.security.keysDir) : undefined;
    const forwarder = new Forwarder({ uri: routerUri, timeoutMs: routerTimeoutMs, maxEventBytes: settings.router.maxEventBytes, curve, log: ilog });
    closers.push('router sockets', () => forwarder.close());
    const inputs: Input[] = [];
    for (const spec of list) {
      const inputLog = ilog.child({ input: spec.name, handler: spec.handler });
      const pipe = new InputPipe(spec.name, spec.namespace, forwarder, metrics, inputLog);
      const input = await createInput(spec, { name: spec.name, namespace: spec.namespace, settings, log: inputLog, pipe });
      closers.push(`input ${spec.name}`, () => input.close());
      await input.start();
      inputs.push(input);
    }
    if (list.length === 0) ilog.warn({ config: settings.configFile }, 'no inputs configured (feeds.feeders / inputs other than ZMQInput): nothing to run');
    else ilog.info({ inputs: list.map((s) => `${s.name} (${s.handler})`), router: routerUri }, 'inputs started');
    const checks = [{ name: 'router', check: () => forwarder.check() }, ...inputs.map((i) => ({ name: `input:${i.name}`, check: () => i.ready() }))];
    const http = await startOps('inputs', settings, registry, checks, ilog, closers);
    return { name: 'inputs', registry, inputs, forwarder, http, close: () => closers.close() };
  } catch (err) {
    await closers.close();
    throw err;
  }
}
