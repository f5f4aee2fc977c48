/**
 * The code of a tsfunc module's thread. It runs from source (`eval`) in a worker thread,
 * so it must stand alone: no imports, no references outside the function; only what
 * `require` and dynamic `import()` give it. The same text works from the TypeScript
 * sources (tests) and from the bundle.
 */
export function tsfuncThreadMain(require: (id: string) => unknown): void {
  type Port = { on(ev: 'message', fn: (m: Record<string, unknown>) => void): void; postMessage(m: unknown): void };
  const { parentPort, workerData } = require('node:worker_threads') as {
    parentPort: Port;
    workerData: { moduleUrl: string; typescript: boolean; tsxApi: string };
  };
  const calls = new Map<number, AbortController>();
  const fires = new Map<number, { resolve: (e: unknown) => void; reject: (err: Error) => void }>();
  let nextFire = 0;
  const load = (async (): Promise<Record<string, unknown>> => {
    if (!workerData.typescript) return (await import(workerData.moduleUrl)) as Record<string, unknown>;
    const { tsImport } = (await import(workerData.tsxApi)) as { tsImport: (url: string, parent: string) => Promise<Record<string, unknown>> };
    return tsImport(workerData.moduleUrl, workerData.moduleUrl);
  })();
  // An unhandled rejection would end the thread; report it instead of dying silently.
  load.catch(() => undefined);

  const logger = (id: number): Record<string, (a?: unknown, b?: unknown) => void> => {
    const at =
      (level: string) =>
      (a?: unknown, b?: unknown): void => {
        const obj =
          a !== null && typeof a === 'object' ? (a instanceof Error ? { err: { message: a.message, stack: a.stack } } : (a as Record<string, unknown>)) : {};
        const msg = typeof a === 'string' ? a : typeof b === 'string' ? b : undefined;
        let safe: Record<string, unknown>;
        try {
          safe = JSON.parse(JSON.stringify(obj)) as Record<string, unknown>;
        } catch {
          safe = { unserialisable: true };
        }
        parentPort.postMessage({ type: 'log', id, level, obj: safe, msg });
      };
    return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal') };
  };

  const run = async (m: { id: number; fn: string; event: unknown; attempt: number; env: Record<string, string> }): Promise<void> => {
    const controller = new AbortController();
    calls.set(m.id, controller);
    try {
      let mod: Record<string, unknown>;
      try {
        mod = await load;
      } catch (err) {
        parentPort.postMessage({ type: 'done', id: m.id, refused: `cannot load tsfunc module: ${(err as Error).message}` });
        return;
      }
      const f = mod[m.fn];
      if (typeof f !== 'function') {
        const exported = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
        parentPort.postMessage({
          type: 'done',
          id: m.id,
          refused: `has no exported function "${m.fn}" (functions it exports: ${exported.join(', ') || 'none'})`,
        });
        return;
      }
      const fire = (event: unknown): Promise<unknown> =>
        new Promise((resolve, reject) => {
          if (controller.signal.aborted) {
            reject(new Error('fire() after the run was aborted; the event was not sent'));
            return;
          }
          const fireId = ++nextFire;
          fires.set(fireId, { resolve, reject });
          parentPort.postMessage({ type: 'fire', id: m.id, fireId, event });
        });
      const registerCall =
        (op: 'get' | 'add') =>
        (name: unknown, a?: unknown, b?: unknown): Promise<unknown> =>
          new Promise((resolve, reject) => {
            const requestId = ++nextFire;
            fires.set(requestId, { resolve, reject });
            const options = (op === 'add' ? b : a) as Record<string, unknown> | undefined;
            parentPort.postMessage({
              type: 'registers',
              id: m.id,
              requestId,
              op,
              name,
              ...(op === 'add' ? { value: a } : {}),
              ...(options ? { options } : {}),
            });
          });
      const registers = { get: registerCall('get'), add: registerCall('add') };
      const ctx = { log: logger(m.id), signal: controller.signal, attempt: m.attempt, fire, env: m.env, registers };
      if (controller.signal.aborted) {
        parentPort.postMessage({ type: 'done', id: m.id, error: { message: `aborted before it started: ${String(controller.signal.reason)}` } });
        return;
      }
      parentPort.postMessage({ type: 'started', id: m.id });
      try {
        const value: unknown = await (f as (e: unknown, c: unknown) => unknown)(m.event, ctx);
        let json: string | undefined;
        try {
          json = JSON.stringify(value);
        } catch (err) {
          parentPort.postMessage({ type: 'done', id: m.id, unserialisable: (err as Error).message });
          return;
        }
        parentPort.postMessage({ type: 'done', id: m.id, json });
      } catch (err) {
        const e = err instanceof Error ? err : new Error(typeof err === 'string' ? err : JSON.stringify(err));
        parentPort.postMessage({ type: 'done', id: m.id, error: { message: e.message, stack: e.stack } });
      }
    } finally {
      calls.delete(m.id);
    }
  };

  parentPort.on('message', (m) => {
    if (m['type'] === 'call') void run(m as unknown as Parameters<typeof run>[0]);
    else if (m['type'] === 'abort') calls.get(m['id'] as number)?.abort(new Error(m['reason'] as string));
    else if (m['type'] === 'fired' || m['type'] === 'registered') {
      // fire() and ctx.registers draw their ids from one counter, so one map holds both.
      const requestId = (m['type'] === 'fired' ? m['fireId'] : m['requestId']) as number;
      const waiter = fires.get(requestId);
      fires.delete(requestId);
      if (m['error'] !== undefined) waiter?.reject(new Error(m['error'] as string));
      else waiter?.resolve(m['type'] === 'fired' ? m['event'] : m['reading']);
    }
  });
}
