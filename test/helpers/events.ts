import type { ReactorEvent } from '../../src/event/event.js';
import type { RunContext } from '../../src/handlers/driver.js';
import { silentLogger } from '../../src/logger.js';

/** A stamped event for driver tests. */
export function sampleEvent(over: Partial<ReactorEvent> = {}): ReactorEvent {
  return {
    id: 'evt-1',
    namespace: 'local',
    event_type: 'zmq.test',
    payload: { msg: 'hi' },
    timestamp: 1_700_000_000,
    trace_id: 'evt-1',
    seq: 1,
    epoch: 1,
    ...over,
  };
}

/** A run context whose fire() records the events. */
export function runContext(over: Partial<RunContext> = {}): RunContext & { fired: unknown[] } {
  const fired: unknown[] = [];
  return {
    log: silentLogger(),
    signal: new AbortController().signal,
    timeoutMs: 5000,
    attempt: 1,
    fire: async (e) => {
      fired.push(e);
      return sampleEvent({ id: `fired-${fired.length}` });
    },
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' },
    mask: (v) => v,
    fired,
    ...over,
  };
}
