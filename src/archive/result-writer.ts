import type { Archive, HandlerResult } from './archive.js';

export interface ResultWriterOptions {
  archive: Pick<Archive, 'insertResults'>;
  /** Write at this many results or after `maxDelayMs`; defaults 200 and 10 ms. */
  maxItems?: number;
  maxDelayMs?: number;
}

/**
 * Batches result inserts across concurrent jobs. `write()` resolves once the result's
 * batch is stored, so a job completes only after its result is archived.
 */
export class ResultWriter {
  readonly #o: Required<ResultWriterOptions>;
  #pending: { result: HandlerResult; resolve: () => void; reject: (e: unknown) => void }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ResultWriterOptions) {
    this.#o = { maxItems: 200, maxDelayMs: 10, ...options };
  }

  write(result: HandlerResult): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ result, resolve, reject });
      if (this.#pending.length >= this.#o.maxItems) this.#flush();
      else this.#timer ??= setTimeout(() => this.#flush(), this.#o.maxDelayMs);
    });
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    this.#o.archive.insertResults(batch.map((p) => p.result)).then(
      () => batch.forEach((p) => p.resolve()),
      (err: unknown) => batch.forEach((p) => p.reject(err)),
    );
  }
}
