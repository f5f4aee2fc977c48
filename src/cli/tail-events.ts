import * as zmq from 'zeromq';
import type { ReactorSettings } from '../config/settings.js';
import { eventKey } from '../event/event.js';
import { parsePublished } from '../event/validate.js';
import { globToRegexSource, isExactKey } from '../archive/glob-regex.js';
import { bodyOf } from '../wire/framing.js';
import { curveClientOptions } from '../wire/curve.js';
import { EXIT } from './exit-codes.js';

/**
 * Print the router's PUB stream as it comes, until SIGINT/SIGTERM. With multipart
 * framing, ZeroMQ itself drops what the glob's literal head cannot match.
 */
export async function tailEvents(settings: ReactorSettings, keyGlob: string | undefined, json: boolean): Promise<number> {
  const curve = (await import('../security/key-files.js')).clientKeysFor(settings.security);
  const sock = new zmq.Subscriber({ linger: 0, ...curveClientOptions(curve) });
  const match = keyGlob === undefined ? undefined : new RegExp(globToRegexSource(keyGlob));
  const head = keyGlob === undefined ? '' : isExactKey(keyGlob) ? keyGlob : keyGlob.slice(0, keyGlob.search(/[*?[]/));
  // Every router's stream: an event two routers both published shows twice.
  const uris = settings.sub.routers.map((r) => r.publisherUri);
  for (const uri of uris) sock.connect(uri);
  sock.subscribe(settings.router.framing === 'multipart' ? head : '');
  const stop = (): void => sock.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.stderr.write(`following ${uris.join(', ')}${keyGlob ? ` for ${keyGlob}` : ''} (Ctrl-C to stop)\n`);
  try {
    for await (const frames of sock) {
      const body = bodyOf(frames);
      if (!body) continue;
      let event;
      try {
        event = parsePublished(body.toString('utf8'));
      } catch {
        continue;
      }
      const key = eventKey(event);
      if (match && !match.test(key)) continue;
      process.stdout.write(
        json
          ? `${body.toString('utf8')}\n`
          : `${new Date(event.timestamp * 1000).toISOString()}  ${event.id}  ${key}  seq ${event.seq}  ${JSON.stringify(event.payload)}\n`,
      );
    }
  } catch (err) {
    if (!sock.closed) throw err;
  }
  return EXIT.OK;
}
