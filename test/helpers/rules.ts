import type { Registry } from 'prom-client';
import { buildHandlers } from '../../src/config/handlers-file.js';
import { silentLogger } from '../../src/logger.js';
import type { RuleState } from '../../src/rule-state/rule-state.js';
import { RuleDecider } from '../../src/sub/rule-decider.js';

/** A subscriber's rules from an event-handlers.json value (no rules state unless given). */
export function rulesFrom(handlers: Record<string, unknown>, registry: Registry, state?: RuleState): RuleDecider {
  const { rules } = buildHandlers('event-handlers.json', handlers);
  return new RuleDecider({ table: () => rules, log: silentLogger(), registry, ...(state ? { state } : {}) });
}
