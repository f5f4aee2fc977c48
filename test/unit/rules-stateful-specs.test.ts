import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/errors.js';
import { compileCorrelations, compileDebounce, compileIf, compileRegisters, compileThrottle } from '../../src/rules/stateful-specs.js';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('expected a ConfigError');
}

test('stateful specs - registers compile; every problem is named with its key path', () => {
  const ok = compileRegisters({ load: { key: '*:load.*', value: 'payload.load1', window: 60, by: 'payload.host' } }, { path: 'registers' });
  assert.equal(ok.get('load')!.windowS, 60);
  assert.deepEqual(ok.get('load')!.by!.steps, ['payload', 'host']);
  const bad = problems(() =>
    compileRegisters({ a: { key: 'nocolon', value: 'payload..x', samples: 0, extra: 1 }, b: { key: 'x:y', value: 'v' } }, { path: 'registers' }),
  );
  assert.deepEqual(
    bad.map((p) => p.split(':')[0]!).sort((x, y) => x.localeCompare(y)),
    ['registers.a.extra', 'registers.a.key', 'registers.a.samples', 'registers.a.value', 'registers.b'],
  );
});

test('stateful specs - if: one condition, a list (all) or any; unknown registers and operators are refused', () => {
  const regs = compileRegisters({ load: { key: '*:load.*', value: 'payload.load1', samples: 5 } }, { path: 'registers' });
  assert.equal(compileIf({ register: 'load', op: '>', value: 1 }, { path: 'k[0].if' }, regs).conditions[0]!.agg, 'last');
  assert.equal(compileIf([{ register: 'load', agg: 'max', op: '<', value: 2 }], { path: 'k[0].if' }, regs).mode, 'all');
  assert.equal(compileIf({ any: [{ register: 'load', agg: 'min', op: '==', value: 0 }] }, { path: 'k[0].if' }, regs).mode, 'any');
  const bad = problems(() => compileIf({ register: 'nope', agg: 'median', op: '=~', value: 'x' }, { path: 'k[0].if' }, regs));
  assert.deepEqual(
    bad.map((p) => p.split(':')[0]),
    ['k[0].if.register', 'k[0].if.agg', 'k[0].if.op', 'k[0].if.value'],
  );
});

test('stateful specs - throttle, debounce and correlations check their fields', () => {
  assert.deepEqual(compileThrottle({ once_per: 300 }, { path: 't' }), { oncePerS: 300 });
  assert.equal(compileDebounce({ quiet: 5, by: 'payload.host' }, { path: 'd' }).quietS, 5);
  assert.match(problems(() => compileThrottle({ once_per: -1 }, { path: 'k[0].throttle' }))[0]!, /^k\[0\]\.throttle\.once_per: must be a number of seconds/);
  const [c] = compileCorrelations({ d: { all: ['ci:a', 'ci:b'], within: 600, emit: 'ci:done' } }, { path: 'correlations' });
  assert.deepEqual([c!.mode, c!.keys.length, c!.emit], ['all', 2, { namespace: 'ci', event_type: 'done' }]);
  const bad = problems(() => compileCorrelations({ d: { all: ['ci:a'], within: 0, emit: 'nocolon' } }, { path: 'correlations' }));
  assert.deepEqual(
    bad.map((p) => p.split(':')[0]),
    ['correlations.d.all', 'correlations.d.within', 'correlations.d.emit'],
  );
});
