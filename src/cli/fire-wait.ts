import type { HandlerDecision } from '../archive/archive.js';
import type { MongoArchive } from '../archive/mongo-archive.js';
import { waitFinalResults } from '../archive/wait-final-results.js';
import { formatProblem } from '../errors.js';
import { loadForReader } from './common.js';
import { EXIT } from './exit-codes.js';

/**
 * `fire-event --wait`: waits for the final result of every handler an event runs and
 * reports them. The archive is opened before the event is fired, so that a configuration
 * or MongoDB problem stops the command before any handler runs.
 */
export class FireWait {
  readonly #archive: MongoArchive;
  readonly #seconds: number;

  private constructor(archive: MongoArchive, seconds: number) {
    this.#archive = archive;
    this.#seconds = seconds;
  }

  /** Open the archive of `configFile` (or of `up --local-services` for it) for a wait of `seconds`. */
  static async open(configFile: string, seconds: number): Promise<FireWait> {
    const { settings, warnings } = await loadForReader({ config: configFile });
    for (const w of warnings) process.stderr.write(`fire-event: warning: ${formatProblem(w)}\n`);
    const { MongoArchive } = await import('../archive/mongo-archive.js');
    const { silentLogger } = await import('../logger.js');
    const archive = await MongoArchive.connect({
      ...settings.mongo,
      log: silentLogger(),
      serverSelectionTimeoutMS: 5000,
      ensureIndexes: false,
    });
    return new FireWait(archive, seconds);
  }

  /**
   * Wait for the handlers of event `eventId`; print each final result on stdout as a JSON
   * line as it comes (the result document, as `events show --json` has it), and on stderr
   * what runs, what does not and why, and what is still waited for at the deadline.
   * @returns the exit code: 0 when every handler ended ok (or none runs), 1 when one did not, 75 on timeout
   */
  async report(eventId: string): Promise<number> {
    const seconds = this.#seconds;
    const wait = await waitFinalResults(this.#archive, eventId, {
      deadline: Date.now() + seconds * 1000,
      onArchived: (decisions) => {
        const runs = decisions.filter((d) => d.run);
        for (const d of decisions) if (!d.run) note(`not run: ${d.handler} (${d.key}), stopped at ${d.stage ?? '?'}: ${d.reason ?? 'no reason recorded'}`);
        if (runs.length === 0) note(`event ${eventId}: no handler runs${decisions.length === 0 ? ': no handler entry matches its key' : ''}`);
        else note(`event ${eventId}: waiting up to ${seconds} s for ${runs.length} handler(s): ${runs.map(describe).join(', ')}`);
      },
      onFinal: (r) => {
        process.stdout.write(`${JSON.stringify(r)}\n`);
      },
    });
    if (!wait.archived) {
      note(
        `timed out after ${seconds} s: event ${eventId} is not in the archive (is event-sub running, subscribed to this router and writing to this config's MongoDB?)`,
      );
      return EXIT.TEMPFAIL;
    }
    if (!wait.decisions) {
      note(`event ${eventId} is archived without its decisions (by an older event-sub?): which handlers it runs cannot be told`);
      return EXIT.FAILURE;
    }
    if (wait.waiting.length > 0) {
      note(`timed out after ${seconds} s; no final result yet from: ${wait.waiting.map(describe).join(', ')}`);
      if (wait.waiting.some((d) => d.stage === 'debounce'))
        note('a debounced handler superseded by a later event of its group never runs, so never has a result');
      return EXIT.TEMPFAIL;
    }
    const failed = wait.final.filter((r) => r.status !== 'ok');
    if (failed.length === 0) return EXIT.OK;
    note(
      `${failed.length} of ${wait.final.length} handler(s) failed: ${failed.map((r) => `${r.handler} (${r.error_code ?? r.status}, attempt ${r.attempt})`).join(', ')}`,
    );
    return EXIT.FAILURE;
  }

  close(): Promise<void> {
    return this.#archive.close();
  }
}

function note(line: string): void {
  process.stderr.write(`fire-event: ${line}\n`);
}

function describe(d: HandlerDecision): string {
  return d.stage === 'debounce' ? `${d.handler} (debounced: runs after ${(d.delay_ms ?? 0) / 1000} s)` : d.handler;
}
