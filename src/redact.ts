/** A connection string with its password hidden, for logs and error messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):([^@]+)@/, '//$1:***@');
}
