import type { Cursor } from '../archive/archive.js';
import type { ReactorEvent } from '../event/event.js';
import type { ReplayReply } from '../wire/replay-protocol.js';

/**
 * Where an event stands against the subscriber's position: a repeat, the next in
 * sequence, one that cannot be sequenced (from a legacy publisher without `seq`, or from
 * an older router run, e.g. a late replay: archived as it comes, the archive dedups), or
 * one after a gap.
 */
export type Verdict = 'duplicate' | 'next' | 'unsequenced' | 'gap';

/** An event to archive; `cursor` is set on events taken in sequence (the position they move to). */
export interface Taken {
  event: ReactorEvent;
  cursor?: Cursor;
}

/** A range of one epoch's sequence numbers that will never be received. */
export interface LostRange {
  epoch: number;
  from: number;
  /** null: the end is unknown (what an older router run published after `from`, if anything). */
  to: number | null;
  reason: string;
}

/** What to do with a live event. */
export type LiveDecision =
  | { action: 'take'; taken: Taken }
  | { action: 'duplicate' }
  /** Held until the gap before it is repaired; `repair` when a repair must start. */
  | { action: 'hold'; repair: boolean }
  /** Not kept (the hold is full): the repair fetches it again from the router. */
  | { action: 'drop' };

/** What a pass over the held events decided. */
export interface Release {
  taken: Taken[];
  duplicates: number;
  lost: LostRange[];
  /**
   * Set when the router could not be asked and there was no position to measure a gap
   * from: the event taken first, after an unknown number of missed ones.
   */
  blind?: { epoch: number; seq: number };
  /** True when nothing is held any more; false when a gap remains to be fetched. */
  done: boolean;
}

/** What applying one replay reply decided. */
export interface ReplayStep {
  taken: Taken[];
  lost: LostRange[];
  /** The router restarted since our position (or we had none): its new epoch. */
  epochChanged: { previous: Cursor | undefined; epoch: number } | undefined;
}

/** Where `e` stands against `position`. Pure. */
export function classify(e: ReactorEvent, position: Cursor | undefined): Verdict {
  if (e.seq <= 0) return 'unsequenced';
  if (position && e.epoch === position.epoch) {
    if (e.seq <= position.seq) return 'duplicate';
    if (e.seq === position.seq + 1) return 'next';
  }
  if (position && e.epoch < position.epoch) return 'unsequenced';
  return 'gap';
}

/**
 * The range lost between `position` and `next`, taken without replay. Undefined when
 * nothing lies between them, or when there is no position (a new subscriber cannot tell
 * what it missed).
 */
export function lostBefore(position: Cursor | undefined, next: ReactorEvent, reason: string): LostRange | undefined {
  if (!position) return undefined;
  const from = position.epoch === next.epoch ? position.seq + 1 : 1;
  return next.seq > from ? { epoch: next.epoch, from, to: next.seq - 1, reason } : undefined;
}

/**
 * The subscriber's sequencing, without I/O: its position in the router's stream, the live
 * events held while a gap is repaired, and what each event, replay reply and release
 * means. The subscriber is the loop around it: it archives what is taken, records what is
 * lost, and asks the replay socket when told to repair.
 */
export class Sequencer {
  #position: Cursor | undefined;
  #held: ReactorEvent[] = [];
  readonly #maxHeld: number;

  /**
   * @param position - the saved cursor, if any
   * @param maxHeld - most live events held during a repair; beyond, they are dropped and fetched again
   */
  constructor(position: Cursor | undefined, maxHeld: number) {
    this.#position = position;
    this.#maxHeld = maxHeld;
  }

  /** Last event taken in sequence. */
  get position(): Cursor | undefined {
    return this.#position;
  }

  /** Live events held ahead of a gap. */
  get held(): number {
    return this.#held.length;
  }

  /** A live event, `repairing` while a repair runs. */
  offer(e: ReactorEvent, repairing: boolean): LiveDecision {
    if (repairing && e.seq > 0) {
      if (this.#held.length >= this.#maxHeld) return { action: 'drop' };
      this.#held.push(e);
      return { action: 'hold', repair: false };
    }
    const verdict = classify(e, this.#position);
    if (verdict === 'gap') {
      this.#held.push(e);
      return { action: 'hold', repair: true };
    }
    if (verdict === 'duplicate') return { action: 'duplicate' };
    return { action: 'take', taken: this.#take(e, verdict) };
  }

  /**
   * One reply of the replay socket to "what came after our position": follows a router
   * restart, skips a range the router no longer holds (lost, unless we had no position or
   * the epoch changed), and takes the events that continue the sequence.
   */
  applyReplay(reply: ReplayReply<ReactorEvent>): ReplayStep {
    const before = this.#position;
    const journal = reply.journal === 'redis';
    let epochChanged: ReplayStep['epochChanged'];
    const lost: LostRange[] = [];
    if (reply.epoch_changed) {
      epochChanged = { previous: before, epoch: reply.epoch };
      // A router without a durable journal restarted: whether its old run published
      // anything after our position cannot be known, so it is not called "nothing lost".
      if (before && before.epoch !== reply.epoch) {
        lost.push({
          epoch: before.epoch,
          from: before.seq + 1,
          to: null,
          reason:
            'the router restarted without a durable journal (router.journal: memory): what its previous run published after this position, if anything, is unknown',
        });
      }
      this.#position = { epoch: reply.epoch, seq: 0 };
    }
    const ranges = reply.missed_ranges ?? (reply.missed ? [reply.missed] : []);
    for (const m of ranges) {
      if (before) lost.push({ ...m, reason: journal ? 'no longer in the router journal (trimmed)' : 'no longer in the router replay buffer' });
      // Past a range of unknown end, the next event is the first of a later epoch.
      this.#position = { epoch: m.epoch, seq: m.to ?? Number.MAX_SAFE_INTEGER };
    }
    const taken: Taken[] = [];
    for (const e of reply.events) {
      const p = this.#position;
      if (p && e.epoch === p.epoch && e.seq === p.seq + 1) taken.push(this.#take(e, 'next'));
      else if (journal && p && e.epoch > p.epoch) {
        // The journal serves in the router's order: an event of a later epoch means the
        // earlier one ended here. A later epoch's start missing was named in missed_ranges.
        if (e.seq > 1 && !ranges.some((m) => m.epoch === e.epoch)) {
          lost.push({ epoch: e.epoch, from: 1, to: e.seq - 1, reason: 'not in the router journal' });
        }
        taken.push(this.#take(e, 'next'));
      }
    }
    return { taken, lost, epochChanged };
  }

  /**
   * Go through the held events in order after a fetch: take what now follows, stop at the
   * first one still after a gap. `fetched` is false when the router could not be asked:
   * then each gap is lost for good and the events after it are taken.
   */
  release(fetched: boolean): Release {
    const held = this.#held.sort((a, b) => a.epoch - b.epoch || a.seq - b.seq);
    this.#held = [];
    const out: Release = { taken: [], duplicates: 0, lost: [], done: true };
    for (let i = 0; i < held.length; i++) {
      const e = held[i]!;
      const verdict = classify(e, this.#position);
      if (verdict === 'duplicate') {
        out.duplicates++;
      } else if (verdict !== 'gap') {
        out.taken.push(this.#take(e, verdict));
      } else if (!fetched) {
        const lost = lostBefore(this.#position, e, 'replay socket unreachable');
        if (lost) out.lost.push(lost);
        else if (!this.#position) out.blind = { epoch: e.epoch, seq: e.seq };
        out.taken.push(this.#take(e, 'next'));
      } else {
        this.#held = held.slice(i);
        out.done = false;
        break;
      }
    }
    return out;
  }

  /** Forget the held events (shutting down with the router out of reach: they are fetched on the next start). */
  dropHeld(): void {
    this.#held = [];
  }

  #take(e: ReactorEvent, verdict: 'next' | 'unsequenced'): Taken {
    if (verdict === 'unsequenced') return { event: e };
    this.#position = { epoch: e.epoch, seq: e.seq };
    return { event: e, cursor: this.#position };
  }
}
