import type { ReactorEvent } from '../event/event.js';
import type { HandlerResult } from '../handlers/result.js';

/** A subscriber's place in the router's stream. */
export interface Cursor {
  epoch: number;
  seq: number;
}

/** A range of events the subscriber knows it will never receive. */
export interface GapRecord {
  subscriber: string;
  epoch: number;
  from: number;
  to: number;
  count: number;
  reason: string;
  detected_at: Date;
}

/** Where events and handler results are kept. */
export interface Archive {
  /** Store events; an id already stored counts as a duplicate, not an error. */
  insertEvents(events: readonly ReactorEvent[]): Promise<{ inserted: number; duplicates: number }>;
  /** Store handler results; an `_id` already stored is skipped. */
  insertResults(results: readonly HandlerResult[]): Promise<void>;
  /** The first of `ids` stored as a result with status `ok`, if any. */
  findOkResult(ids: readonly string[]): Promise<string | undefined>;
  /** The saved cursor of subscriber `name`, if any. */
  loadCursor(name: string): Promise<Cursor | undefined>;
  saveCursor(name: string, cursor: Cursor): Promise<void>;
  /** Record events that are lost for good (visible in `event-reactor status`). */
  recordGap(gap: GapRecord): Promise<void>;
  close(): Promise<void>;
}
