import type { Registry } from 'prom-client';
import { counter } from '../metrics.js';
import type { HandlerJobData } from '../queue/job.js';
import { ALL_ACTORS } from '../rules/target.js';
import type { RuleEntry } from '../rules/rule-table.js';

/**
 * The subscriber's half of actors: the job(s) of a handler entry with a `"target"`. A name
 * (as written, or from its template) gives one job in that actor's queue, alive or not (it
 * may be restarting; workers dead-letter the job if it does not come within
 * `worker.actor_wait`). `"all"` gives one job per actor live now, each job id naming its
 * actor; none live gives one job for the actor `all`, which no worker is, so it is
 * dead-lettered after the wait like any other absent actor's. A target the event cannot
 * fill gives one job that workers turn into a dead result naming why.
 */
export class ActorTargets {
  readonly #live: () => Promise<string[]>;
  readonly #m;

  /** `live`: the names of the live actors (cached by the caller; see ActorRegistry.liveCached). */
  constructor(registry: Registry, live: () => Promise<string[]>) {
    this.#live = live;
    this.#m = counter(registry, 'sub_jobs_targeted_total', 'Jobs of handler entries with a target, by kind (named, all, unresolved)', ['kind']);
  }

  /** The jobs `job` becomes under `entry`'s target (itself when the entry has none). */
  async jobsFor(entry: RuleEntry, job: HandlerJobData): Promise<HandlerJobData[]> {
    if (!entry.target) return [job];
    const r = entry.target.resolve(job.event);
    if (!r.ok) {
      this.#m.inc({ kind: 'unresolved' });
      return [{ ...job, targetRefusal: r.message }];
    }
    if (!r.all) {
      this.#m.inc({ kind: 'named' });
      return [{ ...job, actor: r.actor }];
    }
    const live = await this.#live();
    const jobs: HandlerJobData[] = live.length === 0 ? [{ ...job, actor: ALL_ACTORS }] : live.map((actor) => ({ ...job, actor, fanout: true }));
    this.#m.inc({ kind: 'all' }, jobs.length);
    return jobs;
  }
}
