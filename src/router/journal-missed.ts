import type { MissedRange } from '../wire/replay-protocol.js';
import type { JournalExtent } from './redis-journal.js';

type Position = { epoch: number; seq: number };

/**
 * What a subscriber at `(epoch, seq)` asks for that the journal no longer holds, in the
 * router's order: the rest of its epoch (to that epoch's recorded end, or `to: null` when
 * the end was never recorded), every later epoch trimmed whole, and the trimmed start of
 * the journal's first epoch. `current` is the router's own position (the next entry
 * written is after it), which stands for the journal's start when it is empty.
 */
export function missedRanges(extent: Pick<JournalExtent, 'first' | 'ends'>, current: Position, epoch: number, seq: number): MissedRange[] {
  const first = extent.first ?? { epoch: current.epoch, seq: current.seq + 1 };
  if (epoch > first.epoch || (epoch === first.epoch && seq + 1 >= first.seq)) return [];
  if (epoch === first.epoch) return [{ epoch, from: seq + 1, to: first.seq - 1 }];
  const missed: MissedRange[] = [];
  const end = extent.ends.get(epoch);
  if (end === undefined) missed.push({ epoch, from: seq + 1, to: null });
  else if (end > seq) missed.push({ epoch, from: seq + 1, to: end });
  const between = [...extent.ends.keys()].filter((e) => e > epoch && e < first.epoch).sort((a, b) => a - b);
  for (const e of between) {
    const last = extent.ends.get(e)!;
    if (last > 0) missed.push({ epoch: e, from: 1, to: last });
  }
  if (first.seq > 1) missed.push({ epoch: first.epoch, from: 1, to: first.seq - 1 });
  return missed;
}
