import type { Collection, Db, Document } from 'mongodb';
import type { Retention } from '../config/settings.js';
import type { Logger } from '../logger.js';

const DAY_S = 86_400;
const EVENTS_TTL = 'time_ttl';
const RESULTS_TTL = 'start_ttl';

/** What the server did with the retention settings. */
export type RetentionMode = 'ttl' | 'prune' | 'keep';

/**
 * Make the archive's TTL indexes match `retention`: `events` expire by `time`, `results` by
 * `start` except dead letters (`dead: true`, kept until purged). An index whose period
 * changed is updated (`collMod`), one no longer wanted is dropped. A server without TTL
 * indexes (FerretDB 1.x) is told apart and reported: `event-reactor archive prune`, run by
 * the timer or cron line in init/, then enforces the same retention.
 */
export async function applyRetention(db: Db, retention: Retention, log: Logger): Promise<RetentionMode> {
  const wanted = [
    { collection: db.collection('events'), name: EVENTS_TTL, key: { time: 1 }, days: retention.eventsDays },
    { collection: db.collection('results'), name: RESULTS_TTL, key: { start: 1 }, days: retention.resultsDays, partialFilterExpression: { dead: false } },
  ];
  if (wanted.every((w) => w.days === undefined)) {
    for (const w of wanted) await dropIfPresent(w.collection, w.name);
    return 'keep';
  }
  try {
    for (const w of wanted) {
      const existing = (await indexes(w.collection)).find((i) => i['name'] === w.name);
      if (w.days === undefined) {
        if (existing) await w.collection.dropIndex(w.name);
        continue;
      }
      const seconds = Math.round(w.days * DAY_S);
      if (!existing) {
        await w.collection.createIndex(w.key, {
          name: w.name,
          expireAfterSeconds: seconds,
          ...(w.partialFilterExpression ? { partialFilterExpression: w.partialFilterExpression } : {}),
        });
      } else if (existing['expireAfterSeconds'] !== seconds) {
        await db.command({ collMod: w.collection.collectionName, index: { name: w.name, expireAfterSeconds: seconds } });
      }
    }
    return 'ttl';
  } catch (err) {
    if (!/expireAfterSeconds|not implemented|not supported/i.test((err as Error).message)) throw err;
    log.info(
      { reason: (err as Error).message },
      'this MongoDB-wire server has no TTL indexes: run `event-reactor archive prune` (init/ has a systemd timer and a cron line) to enforce archive retention',
    );
    return 'prune';
  }
}

/** What {@link prune} removed. */
export interface PruneReport {
  events: number;
  results: number;
  eventsBefore?: Date;
  resultsBefore?: Date;
}

/**
 * Delete what retention no longer keeps: events older than `retention.eventsDays` (by
 * `time`), results older than `retention.resultsDays` (by `start`) that are not dead
 * letters. Gaps, cursors and conflicts are never pruned.
 */
export async function prune(db: Db, retention: Retention, now: number = Date.now()): Promise<PruneReport> {
  const report: PruneReport = { events: 0, results: 0 };
  if (retention.eventsDays !== undefined) {
    report.eventsBefore = new Date(now - retention.eventsDays * DAY_S * 1000);
    report.events = (await db.collection('events').deleteMany({ time: { $lt: report.eventsBefore } })).deletedCount;
  }
  if (retention.resultsDays !== undefined) {
    report.resultsBefore = new Date(now - retention.resultsDays * DAY_S * 1000);
    report.results = (await db.collection('results').deleteMany({ start: { $lt: report.resultsBefore }, dead: { $ne: true } })).deletedCount;
  }
  return report;
}

async function indexes(c: Collection<Document>): Promise<Document[]> {
  try {
    return await c.listIndexes().toArray();
  } catch (err) {
    if ((err as { code?: number }).code === 26) return []; // NamespaceNotFound: no collection yet
    throw err;
  }
}

async function dropIfPresent(c: Collection<Document>, name: string): Promise<void> {
  if ((await indexes(c)).some((i) => i['name'] === name)) await c.dropIndex(name);
}
