import type { Socket } from 'zeromq';

/**
 * Watch `sock`'s handshakes and remember why the last one failed, in words an operator
 * can act on: without this, a refused CURVE client only ever sees a timeout.
 *
 * @returns a function giving the last failure, or undefined when none happened
 */
export function watchHandshake(sock: Socket, usesCurve: boolean): () => string | undefined {
  let failure: string | undefined;
  sock.events.on('handshake:error:auth', (e) => {
    failure = `this client's key is not authorized (ZAP status ${e.error.status}): add its public certificate to the router's keys_dir/clients (event-reactor keys client NAME)`;
  });
  sock.events.on('handshake:error:protocol', (e) => {
    if (e.error.code !== 'ERR_ZMTP_MECHANISM_MISMATCH') failure = `handshake failed (${e.error.code})`;
    else if (usesCurve) failure = 'it does not use CURVE, but this client does';
    else
      failure =
        "it requires CURVE (security.curve): give the server's public certificate and this client's secret one (--server-key, --cert), or -c config.json for this host's pair";
  });
  sock.events.on('handshake', () => {
    failure = undefined;
  });
  return () => failure;
}
