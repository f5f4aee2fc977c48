import { ReactorError } from '../errors.js';

/**
 * Exit codes, from sysexits(3) where one fits. Documented in README.
 *  0 ok · 1 failure (handler/demo failed) · 64 usage · 65 refused input (router said no)
 *  69 service unavailable (Redis, MongoDB, router) · 70 internal error · 75 timeout · 77 not authorized (CURVE)
 *  78 configuration error · 130/143 interrupted by a second signal
 */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64,
  DATAERR: 65,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  TEMPFAIL: 75,
  NOPERM: 77,
  CONFIG: 78,
} as const;

export function exitCodeFor(err: unknown): number {
  if (!(err instanceof ReactorError)) return EXIT.SOFTWARE;
  switch (err.code) {
    case 'ERR_CONFIG':
      return EXIT.CONFIG;
    case 'ERR_EVENT_INVALID':
    case 'ERR_UNKNOWN_HANDLER':
      return EXIT.DATAERR;
    case 'ERR_TIMEOUT':
      return EXIT.TEMPFAIL;
    case 'ERR_AUTH':
      return EXIT.NOPERM;
    case 'ERR_USAGE':
      return EXIT.USAGE;
    case 'ERR_TRANSPORT':
    case 'ERR_ARCHIVE':
    case 'ERR_JOURNAL':
    case 'ERR_QUEUE':
    case 'ERR_SERVICE':
      return EXIT.UNAVAILABLE;
    default:
      return EXIT.SOFTWARE;
  }
}
