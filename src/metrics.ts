import { Counter, Histogram, Registry } from 'prom-client';

/** A registry per daemon, so several daemons in one process (`event-reactor up`, tests) never collide. */
export function createRegistry(daemon: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ daemon });
  return registry;
}

export function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export function histogram<L extends string>(registry: Registry, name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> {
  return new Histogram({ name, help, buckets, labelNames, registers: [registry] });
}

/** Current value of a counter or gauge (summed over labels matching `labels`). */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const data = await metric.get();
  let total = 0;
  for (const v of data.values) {
    if (Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)) total += v.value;
  }
  return total;
}
