import { connect, type Socket } from 'node:net';

/**
 * A ZeroMQ peer written by hand on a plain TCP socket (ZMTP 3.0, NULL mechanism), for
 * what no ZeroMQ library sends: a multipart message that never gets its last part, a
 * frame header that announces more bytes than ever come.
 */

/** Greeting: signature, version 3.0, mechanism NULL padded to 20 bytes, as-server 0, 31 bytes filler. */
function greeting(): Buffer {
  const g = Buffer.alloc(64);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 0;
  g.write('NULL', 12, 'latin1');
  return g;
}

/** READY command with the Socket-Type property, as a short command frame. */
function ready(socketType: string): Buffer {
  const name = 'Socket-Type';
  const body = Buffer.concat([
    Buffer.from([5]),
    Buffer.from('READY', 'latin1'),
    Buffer.from([name.length]),
    Buffer.from(name, 'latin1'),
    Buffer.alloc(4),
    Buffer.from(socketType, 'latin1'),
  ]);
  body.writeUInt32BE(socketType.length, 1 + 5 + 1 + name.length);
  return Buffer.concat([Buffer.from([0x04, body.length]), body]);
}

const MORE = 0x01;
const LONG = 0x02;

/** Header of a message frame of `size` bytes, with the MORE flag when `more`. */
export function frameHeader(size: number, more: boolean): Buffer {
  if (size < 256) return Buffer.from([more ? MORE : 0, size]);
  const h = Buffer.alloc(9);
  h[0] = LONG | (more ? MORE : 0);
  h.writeBigUInt64BE(BigInt(size), 1);
  return h;
}

/** A raw connection: when it connected, and when (if ever) the other side closed it. */
export interface RawPeer {
  socket: Socket;
  connectedAt: number;
  /** Set once the socket closed; by the router unless the test closed it first. */
  closedAt?: number;
}

/**
 * Bytes of the other side's greeting and READY command at the start of `buf`, once all
 * have arrived; undefined before.
 */
function handshakeLength(buf: Buffer): number | undefined {
  if (buf.length < 66) return undefined;
  const long = (buf[64]! & LONG) !== 0;
  if (long && buf.length < 73) return undefined;
  const end = long ? 73 + Number(buf.readBigUInt64BE(65)) : 66 + buf[65]!;
  return buf.length >= end ? end : undefined;
}

/**
 * Connect to `port` on 127.0.0.1, greet as a `socketType` peer and, once the router's
 * READY came (a ZeroMQ peer takes a frame sent before then as a broken handshake), write
 * `bytes` and stop: nothing more is sent and heartbeats are never answered. What the
 * router sends is read and dropped. Resolves once the bytes are written.
 */
export async function rawPeer(port: number, socketType: string, bytes: Buffer): Promise<RawPeer> {
  const socket = connect({ host: '127.0.0.1', port });
  const peer: RawPeer = { socket, connectedAt: Date.now() };
  socket.on('error', () => undefined);
  socket.on('close', () => (peer.closedAt = Date.now()));
  await new Promise<void>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (handshakeLength(received) === undefined) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.on('data', () => undefined);
      resolve();
    };
    const onClose = (): void => reject(new Error(`raw ${socketType} peer: port ${port} closed the connection during the handshake`));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('connect', () => socket.write(Buffer.concat([greeting(), ready(socketType)])));
  });
  await new Promise<void>((resolve, reject) => socket.write(bytes, (err) => (err ? reject(err) : resolve())));
  return peer;
}
