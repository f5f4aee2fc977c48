/** A connection string with its password hidden, for logs and error messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):([^@]+)@/, '//$1:***@').replace(/([?&][a-z_]*password=)[^&#]*/gi, '$1***');
}
