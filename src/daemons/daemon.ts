import type { Registry } from 'prom-client';

/** A running daemon part. `close()` stops intake, drains, then closes stores; idempotent. */
export interface Daemon {
  readonly name: string;
  readonly registry: Registry;
  close(): Promise<void>;
  /** Load its configuration again where it can (SIGHUP): the handler table. */
  reload?(): void;
}
