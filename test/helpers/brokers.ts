import { connect } from 'node:net';

/** RabbitMQ for the tests: `AMQP_URL`, else the local server on 5672 with guest/guest. */
export const AMQP_URL = process.env['AMQP_URL'] || 'amqp://guest:guest@127.0.0.1:5672';
/** Mosquitto (or any MQTT 3.1.1 broker) for the tests: `MQTT_URL`, else the local one on 1883. */
export const MQTT_URL = process.env['MQTT_URL'] || 'mqtt://127.0.0.1:1883';

/**
 * Resolve when something accepts TCP connections at `url`'s host and port, else fail
 * within `timeoutMs` with a message saying which broker is missing and how to start it,
 * rather than letting a client retry until the test times out.
 */
export async function requireBroker(name: 'RabbitMQ' | 'Mosquitto', url: string, timeoutMs = 3000): Promise<void> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'amqp:' ? 5672 : 1883));
  const host = u.hostname;
  const how =
    name === 'RabbitMQ'
      ? '`rabbitmq-server -detached` (Debian package rabbitmq-server), or set AMQP_URL'
      : '`mosquitto -d -c /etc/mosquitto/mosquitto.conf` (Debian package mosquitto), or set MQTT_URL';
  await new Promise<void>((resolve, reject) => {
    const sock = connect({ host, port });
    const fail = (why: string): void => {
      sock.destroy();
      reject(new Error(`${name} is not reachable at ${host}:${port} (${why}): these tests need a real broker; start one with ${how}`));
    };
    sock.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs} ms`));
    sock.once('error', (err) => fail(err.message));
    sock.once('connect', () => {
      sock.end();
      resolve();
    });
  });
}
