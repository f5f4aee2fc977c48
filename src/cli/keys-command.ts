import type { Command } from 'commander';
import { formatProblem } from '../errors.js';
import type { ReactorSettings } from '../config/settings.js';
import { reportError } from './common.js';
import { EXIT } from './exit-codes.js';

interface KeysFlags {
  config?: string;
  out?: string;
  json?: boolean;
}

const HELP_AFTER = `
Certificates are ZeroMQ certificate files as czmq and pyzmq's zmq.auth write them:
NAME.key holds the public key, NAME.key_secret both (mode 0600). In security.keys_dir:
server.key(_secret) for the router, local.key(_secret) for the daemons and CLIs of this
host, and clients/NAME.key for each authorized client (re-read by the router when the
directory changes). Existing keys are never overwritten.`;

/** `event-reactor keys init | client NAME [--out DIR] | list`. */
export function configureKeysCommand(cmd: Command, result: { code: number }): Command {
  cmd.description('Make and list the CURVE certificates of the router, this host and its clients').addHelpText('after', HELP_AFTER);
  const sub = (name: string, description: string): Command =>
    cmd
      .command(name)
      .exitOverride()
      .description(description)
      .option('-c, --config <file>', 'config.json (default: $EVENT_REACTOR_CONFIG or /etc/event-reactor/config.json)')
      .addHelpText('after', HELP_AFTER);

  sub('init', "Write the router's pair (server.key) and the local pair (local.key), and authorize the local one").action(async (flags: KeysFlags) => {
    result.code = await withSettings(flags, 'keys init', async (s) => {
      const { initKeys } = await import('../security/key-files.js');
      const r = initKeys(s.security.keysDir);
      for (const [what, w] of [
        ['server pair', r.server],
        ['local pair', r.local],
      ] as const) {
        say(`${w.created ? 'created' : 'kept   '} ${what}: ${w.public}, ${w.secret}`);
      }
      say(`${r.localAuthorized.created ? 'created' : 'kept   '} authorized client local: ${r.localAuthorized.file}`);
      if (!s.security.curve) say('security.curve is off: set "security": {"curve": true} in config.json to use these keys');
      return EXIT.OK;
    });
  });

  sub('client', 'Make a key pair for a client and authorize it')
    .argument('<name>', 'client name: the base name of its certificate files')
    .option('--out <dir>', 'where to write NAME.key and NAME.key_secret (hand them to the client)', '.')
    .action(async (name: string, flags: KeysFlags) => {
      result.code = await withSettings(flags, 'keys client', async (s) => {
        const { addClient } = await import('../security/key-files.js');
        const r = addClient(s.security.keysDir, name, flags.out ?? '.');
        say(`created ${r.written.public} and ${r.written.secret} (secret: give it to the client only)`);
        say(`authorized ${name}: ${r.authorized}`);
        say(`the client also needs the server's public certificate: ${s.security.keysDir}/server.key`);
        return EXIT.OK;
      });
    });

  sub('list', 'List the authorized clients with their public keys and limits')
    .option('--json', 'print JSON')
    .action(async (flags: KeysFlags) => {
      result.code = await withSettings(flags, 'keys list', async (s) => {
        const { authorizedNames, clientCertificate } = await import('../security/key-files.js');
        const rows = authorizedNames(s.security.keysDir).map((name) => ({
          name,
          public_key: clientCertificate(s.security.keysDir, name).publicKey,
          namespaces: s.security.clients.get(name)?.namespaces ?? null,
        }));
        if (flags.json) say(JSON.stringify(rows, null, 2));
        else for (const r of rows) say(`${r.name}\t${r.public_key}\t${r.namespaces ? `namespaces ${r.namespaces.join(',')}` : 'any namespace'}`);
        return EXIT.OK;
      });
    });
  return cmd;
}

async function withSettings(flags: KeysFlags, what: string, run: (s: ReactorSettings) => Promise<number>): Promise<number> {
  try {
    const { loadConfig } = await import('../config/load.js');
    const { settings, warnings } = loadConfig({ path: flags.config });
    for (const w of warnings) process.stderr.write(`warning: ${formatProblem(w)}\n`);
    return await run(settings);
  } catch (err) {
    return reportError(err, `event-reactor ${what}`);
  }
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}
