/**
 * What `event-reactor install` does, as a list of steps decided before any is run, so
 * `--dry-run` prints exactly what a real run would do. Each step checks the system and
 * does nothing when it is already as wanted (install is idempotent).
 */
export interface Step {
  /** One line for the operator: what this step makes true. */
  describe: string;
  /** Make it so; returns what was done (`created`, `unchanged`, `wrote x.new beside it`...). */
  run(): Promise<string> | string;
}
