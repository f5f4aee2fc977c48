/**
 * `ctx.registers` of a handler run: reads and adds to the registers of event-handlers.json
 * in the rules state (Redis), shared with the subscriber's `if` conditions.
 */
import { UsageError } from '../errors.js';
import type { ReactorEvent } from '../event/event.js';
import type { RegisterReading, RegistersApi } from '../handlers/driver.js';
import { aggregate, groupOf, type RuleState, type SeriesStats } from '../rule-state/rule-state.js';
import type { RegisterSpec } from '../rules/stateful-specs.js';

const MAX_GROUP_CHARS = 256;

/**
 * The registers API of one run. The job id and a call counter name each added sample, so
 * a retried run (any attempt of the same job) that adds the same samples counts them once.
 */
export function handlerRegisters(
  state: Pick<RuleState, 'read' | 'add'>,
  registers: ReadonlyMap<string, RegisterSpec>,
  event: ReactorEvent,
  jobId: string,
): RegistersApi {
  let added = 0;
  const find = (name: unknown): RegisterSpec => {
    const r = typeof name === 'string' ? registers.get(name) : undefined;
    if (r) return r;
    const known = [...registers.keys()];
    throw new UsageError(`no register ${JSON.stringify(name)} in event-handlers.json (registers: ${known.join(', ') || 'none'})`);
  };
  const groupFor = (r: RegisterSpec, group: unknown): string => {
    if (group === undefined) return groupOf(r.by, event);
    if (typeof group !== 'string' || group === '' || group.length > MAX_GROUP_CHARS) {
      throw new UsageError(`register group must be a non-empty string of at most ${MAX_GROUP_CHARS} characters`);
    }
    return group;
  };
  return {
    async get(name, options = {}) {
      const r = find(name);
      const group = groupFor(r, options.group);
      const period = options.period;
      if (period !== undefined && !(typeof period === 'number' && period > 0 && Number.isFinite(period))) {
        throw new UsageError('register period must be a positive number of seconds');
      }
      return reading(r.name, group, await state.read(r, group, period));
    },
    async add(name, value, options = {}) {
      const r = find(name);
      const group = groupFor(r, options.group);
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw new UsageError(`register ${r.name}: a sample must be a finite number, got ${JSON.stringify(value)}`);
      added++;
      return reading(r.name, group, await state.add(r, group, `${jobId}#${added}`, value));
    },
  };
}

function reading(register: string, group: string, s: SeriesStats): RegisterReading {
  const agg = (a: Parameters<typeof aggregate>[0]): number | null => aggregate(a, s) ?? null;
  return { register, group, count: s.count, sum: s.sum, avg: agg('avg'), min: agg('min'), max: agg('max'), last: agg('last'), rate: agg('rate') };
}
