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
  /** null: the end is unknown (what a router published after `from`, if anything, cannot be known). */
  to: number | null;
  /** null with an unknown end. */
  count: number | null;
  reason: string;
  detected_at: Date;
}

/** What {@link Archive.insertEvents} did. */
export interface InsertedEvents {
  inserted: number;
  duplicates: number;
  /** Duplicates whose content differs from the stored event (recorded in `conflicts`). */
  conflicts: number;
  /** Refused by the server even as JSON text (kept in `rejected`). */
  rejected: number;
}

/** Where events and handler results are kept. */
export interface Archive {
  /**
   * Store events, each with `extras[i]` (the archive's own fields, such as `decisions`)
   * added. An id already stored counts as a duplicate, not an error; with other content
   * it is also recorded in `conflicts`. What the server refuses even as JSON text is kept
   * in `rejected`: no event makes a batch fail forever.
   */
  insertEvents(events: readonly ReactorEvent[], extras?: readonly (Record<string, unknown> | undefined)[]): Promise<InsertedEvents>;
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

/** A subscriber's saved cursor, as `status` shows it. */
export interface SavedCursor extends Cursor {
  name: string;
  updated_at: Date;
}

/** What the archive holds, in counts, for `event-reactor status`. */
export interface ArchiveStats {
  /** Events stored (the server's estimate: no collection scan). */
  events: number;
  /** Handler results by `status`. */
  results: Record<string, number>;
  /** Results marked `dead: true`. */
  dead: number;
  cursors: SavedCursor[];
  /** Events refused because their id was archived with other content (`conflicts`). */
  conflicts: number;
  /** Events and results MongoDB refused even as JSON text (`rejected`). */
  rejected: number;
  gaps: {
    /** Gap records. */
    count: number;
    /** Events in them (those that can be counted). */
    lost: number;
    /** Records whose loss cannot be counted (unknown end): "no event lost" cannot be said. */
    unknown: number;
    /** The most recent records, newest first. */
    latest: GapRecord[];
  };
}

/** A stored event: the event's fields plus what the archive adds. */
export interface StoredEvent extends Record<string, unknown> {
  _id: string;
  key: string;
  time: Date;
  received_at: Date;
}

/**
 * A handler entry an archived event's key selected: one record of the event's `decisions`
 * (written by event-sub's rule decider). `id` is the `handler_id` of its results.
 */
export interface HandlerDecision {
  key: string;
  handler: string;
  id: string;
  /** True when it was enqueued: it runs (debounced: after `delay_ms`, if still the latest of its group). */
  run: boolean;
  /** The stage that stopped it (`when`, `if`, `throttle`, `duplicate`: the same handler runs under another key), or `debounce` when it runs later. */
  stage?: string;
  reason?: string;
  delay_ms?: number;
}

/**
 * The archive's read side, for the CLI and the web console: every question asked of the
 * archive goes through here, so the commands hold no queries of their own.
 */
export interface ArchiveReader {
  stats(options?: { latestGaps?: number }): Promise<ArchiveStats>;
  /** The stored event with this id, if any. */
  getEvent(id: string): Promise<StoredEvent | undefined>;
  /** Every run of one job, first run first. */
  resultsForJob(jobId: string): Promise<HandlerResult[]>;
  /** Every handler run of one event, earliest first. */
  resultsForEvent(eventId: string): Promise<HandlerResult[]>;
  /**
   * The final result of each handler of one event that has one (an ok run, or its dead
   * run: see `final-results.ts`), in the order they ended. A handler not done yet is absent.
   */
  finalResults(eventId: string): Promise<HandlerResult[]>;
  /** `events ls`: newest first, with each event's handler outcomes. */
  listEvents(query: EventQuery): Promise<EventSummary[]>;
  /** `events show`: undefined when no event has this id. */
  eventDetail(id: string): Promise<EventDetail | undefined>;
  /** `results ls`: newest first. */
  listResults(query: ResultQuery): Promise<HandlerResult[]>;
  /** What `replay` fires again, oldest first. */
  eventsToReplay(query: ReplayQuery): AsyncIterable<StoredEvent>;
  close(): Promise<void>;
}

/** Filters of `events ls`; all optional. */
export interface EventQuery {
  /** fnmatch glob on `namespace:event_type` (`local:disk.*`). */
  key?: string;
  since?: Date;
  until?: Date;
  /** Events of one trace. */
  trace?: string;
  /** Events whose handlers' outcome is this (see {@link EventOutcome}). */
  status?: 'ok' | 'error' | 'dead';
  /** Most events returned; default 50. */
  limit?: number;
}

/**
 * An event's outcome from its handler runs: `dead` when a run was dead-lettered, `error`
 * when the latest run of some handler failed, `ok` when every handler's latest run is ok,
 * `none` when no handler ran (none matched, or none has run yet).
 */
export type EventOutcome = 'ok' | 'error' | 'dead' | 'none';

/** One line of `events ls`. */
export interface EventSummary {
  id: string;
  key: string;
  time: Date;
  trace_id: string;
  parent_event?: string;
  outcome: EventOutcome;
  /** The latest run of each handler. */
  handlers: { handler: string; handler_id: string; status: string; dead: boolean; runs: number }[];
}

/** `events show`: an event, every run of its handlers, the events it caused, its trace. */
export interface EventDetail {
  event: StoredEvent;
  runs: HandlerResult[];
  followUps: StoredEvent[];
  /** From the trace's first event down to this one (by `parent_event`). */
  chain: StoredEvent[];
}

/** Filters of `results ls`. */
export interface ResultQuery {
  /** A handler's command (`handler`), id (`handler_id`) or key. */
  handler?: string;
  status?: 'ok' | 'error' | 'timeout' | 'dead';
  since?: Date;
  limit?: number;
}

/** Which archived events `replay` fires again, oldest first. */
export interface ReplayQuery {
  since?: Date;
  until?: Date;
  key?: string;
  ids?: readonly string[];
}
