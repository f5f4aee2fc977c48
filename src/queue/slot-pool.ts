/** What the pool needs of a per-entry lane: the slots it holds and may hold. */
export interface SlotHolder {
  held: number;
  /** Handler slots of this process the lane may hold at once. */
  cap: number;
}

/**
 * The handler slots of one worker process (`worker.concurrency`), shared by every entry's
 * queue. A lane may hold at most its `cap` of them; a job that cannot take one waits a
 * little (a slot comes back as soon as a result is stored), and a slot given back goes to
 * the job waiting longest whose lane is under its cap. With
 * each cap below the pool's size (see lane-plan.ts), one entry whose handlers hang
 * cannot take every slot: the others always have one.
 */
export class SlotPool {
  #free: number;
  readonly #waiters: { lane: SlotHolder; resolve: () => void }[] = [];

  /** @throws {RangeError} when `size` is not a whole number >= 1 */
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`SlotPool: size must be a whole number >= 1, got ${size}`);
    this.#free = size;
  }

  /**
   * Take a slot for `lane`, waiting at most `waitMs`: true when taken (then give it back
   * with {@link release}), false when none came in time.
   */
  async take(lane: SlotHolder, waitMs: number): Promise<boolean> {
    if (this.#free > 0 && lane.held < lane.cap) {
      this.#free--;
      lane.held++;
      return true;
    }
    return new Promise<boolean>((resolve) => {
      const waiter = { lane, resolve: (): void => resolve(true) };
      this.#waiters.push(waiter);
      // Not unref'd: the wait is short and someone awaits its answer (an unref'd timer let
      // a process with nothing else to do exit with the promise pending).
      setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        // Not found: it was given a slot just before.
        if (i >= 0) {
          this.#waiters.splice(i, 1);
          resolve(false);
        }
      }, waitMs);
    });
  }

  /** Give `lane`'s slot back, to the first waiter that may take it. */
  release(lane: SlotHolder): void {
    lane.held--;
    this.#free++;
    this.#wake();
  }

  /** A lane's cap was raised: waiters of it may go now. */
  capsChanged(): void {
    this.#wake();
  }

  #wake(): void {
    for (let i = 0; i < this.#waiters.length && this.#free > 0;) {
      const w = this.#waiters[i]!;
      if (w.lane.held < w.lane.cap) {
        this.#waiters.splice(i, 1);
        this.#free--;
        w.lane.held++;
        w.resolve();
      } else i++;
    }
  }
}
