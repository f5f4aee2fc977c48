import type { Command } from 'commander';
import { ulid } from 'ulid';
import { ConfigError, formatProblem } from '../errors.js';
import { EXIT } from './exit-codes.js';
import { reportError } from './common.js';
import { readPayload } from './fire-command.js';
import { readFileSync } from 'node:fs';

interface TestEventFlags {
  eventType: string;
  namespace: string;
  data?: string;
  config?: string;
  handlers?: string;
  json?: boolean;
  state: boolean;
}

/** `event-reactor test-event`: which handler entries an event would run, and why not. */
export function configureTestEventCommand(cmd: Command, result: { code: number }): Command {
  return cmd
    .description(
      'Say, for each handler entry, whether an event would run it and why not (key, when, template, if, throttle, debounce). Exit 0 if one would run, 1 if none, 78 if the handler file is broken',
    )
    .requiredOption('-e, --event-type <type>', 'event type')
    .option('-n, --namespace <ns>', 'namespace', 'local')
    .option('-d, --data <json>', 'payload: JSON text, @file, or - for stdin (default {})')
    .option('-c, --config <file>', 'config.json (default: $EVENT_REACTOR_CONFIG or /etc/event-reactor/config.json)')
    .option('--handlers <file>', 'event-handlers.json to test (default: from config.json)')
    .option('--no-state', 'do not read registers and throttles from Redis')
    .option('--json', 'print JSON')
    .action(async (flags: TestEventFlags) => {
      result.code = await testEvent(flags);
    });
}

async function testEvent(flags: TestEventFlags): Promise<number> {
  let state: import('../rule-state/rule-state.js').RuleState | undefined;
  try {
    const { loadConfig } = await import('../config/load.js');
    const { loadHandlersFile } = await import('../config/handlers-file.js');
    const { settings } = loadConfig({ path: flags.config, overrides: flags.handlers ? { handlersFile: flags.handlers } : {} });
    let rules;
    try {
      rules = loadHandlersFile(settings.handlersFile).rules;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      for (const p of err.problems) process.stderr.write(`error: ${formatProblem(p)}\n`);
      return EXIT.CONFIG;
    }
    const now = Date.now();
    const event = {
      id: `test-${ulid()}`,
      namespace: flags.namespace,
      event_type: flags.eventType,
      payload: readPayload(flags.data, () => readFileSync(0, 'utf8')),
      timestamp: now / 1000,
      trace_id: 'test',
      hops: 0,
      seq: 0,
      epoch: 0,
    };
    if (flags.state) {
      const { RuleState, rulesPrefix } = await import('../rule-state/rule-state.js');
      state = new RuleState({ redisUrl: settings.redisUrl, prefix: rulesPrefix(settings.queue.name) });
    }
    const { decideEntry } = await import('../rule-state/decide.js');
    const { describeDecision } = await import('../rules/explain.js');
    const { explainPolicy } = await import('../rules/entry-policy.js');
    const decisions = [];
    for (const entry of rules.entries) decisions.push(await decideEntry(entry, event, state, 'peek'));
    const runs = decisions.filter((d) => d.runs).length;
    if (flags.json) {
      const out = decisions.map((d) => ({
        key: d.entry.spec.key,
        handler: d.entry.spec.command,
        driver: d.entry.spec.driver,
        id: d.entry.spec.id,
        ...(d.entry.spec.policy ? { policy: d.entry.spec.policy } : {}),
        runs: d.runs,
        decisions: d.decisions,
      }));
      process.stdout.write(`${JSON.stringify({ event, handlers: out, would_run: runs }, null, 2)}\n`);
    } else {
      for (const d of decisions) {
        const failed = d.decisions.find((x) => !x.pass);
        const head = `${d.runs ? 'RUN ' : 'skip'}  ${d.entry.spec.key}  ${d.entry.spec.driver}:${d.entry.spec.command}`;
        const why = d.runs
          ? [...d.decisions.filter((x) => x.stage !== 'key' && x.stage !== 'when').map(describeDecision), ...explainPolicy(d.entry.spec.policy, event)]
          : failed
            ? [describeDecision(failed)]
            : [];
        process.stdout.write(`${head}${why.length > 0 ? `\n      ${why.join('\n      ')}` : ''}\n`);
      }
      process.stderr.write(`${runs} of ${decisions.length} handler entries would run for ${event.namespace}:${event.event_type}\n`);
    }
    return runs > 0 ? EXIT.OK : EXIT.FAILURE;
  } catch (err) {
    return reportError(err, 'event-reactor test-event');
  } finally {
    await state?.close();
  }
}
