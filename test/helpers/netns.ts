import { execFileSync, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';

/**
 * Other hosts, simulated: network namespaces joined to this one by veth pairs. A process
 * started with {@link NetHost.command} sees only its own loopback and its end of the pair
 * (10.77.X.(4i+2)/30), and reaches this host at 10.77.X.(4i+1); cutting the link
 * (`ip link set <host end> down`) is a host falling off the network.
 */

/** Why these tests cannot run here, or false when they can. */
export const NETNS_SKIP: string | false = (() => {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces and veth pairs need root';
  const ip = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (ip.error || ip.status !== 0) return `"ip netns" does not work here (${ip.error?.message ?? ip.stderr.trim()}): install iproute2`;
  return false;
})();

const created = new Set<NetHost>();
const PREFIX = 'er-ns-';

/** Remove what a test killed before its cleanup left behind: namespaces of processes that are gone. */
function removeStale(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const m of list.matchAll(/^er-ns-(\d+)-(\d+)/gm)) {
    const pid = Number(m[1]);
    try {
      process.kill(pid, 0);
      continue;
    } catch {
      // gone
    }
    spawnSync('ip', ['link', 'del', `erh${pid}-${m[2]}`], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', `${PREFIX}${pid}-${m[2]}`], { stdio: 'ignore' });
  }
}
// A test that fails or is interrupted still removes its namespaces and links.
process.once('exit', () => {
  for (const h of created) h.destroySync();
});

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A third octet no address of this host uses yet: one /24 per test file. */
export function freeSubnet(): number {
  const used = execFileSync('ip', ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
  for (let tries = 0; tries < 100; tries++) {
    const x = randomInt(1, 255);
    if (!used.includes(` 10.77.${x}.`)) return x;
  }
  throw new Error('no free 10.77.X.0/24 subnet');
}

/** One simulated host: a network namespace and the veth pair that links it to this one. */
export class NetHost {
  /** Namespace name. */
  readonly name: string;
  /** This host's end of the pair (what {@link cut} takes down). */
  readonly hostIf: string;
  /** This host's address as the namespace reaches it. */
  readonly hostAddr: string;
  /** The namespace's own address. */
  readonly addr: string;
  #gone = false;

  private constructor(name: string, hostIf: string, hostAddr: string, addr: string) {
    this.name = name;
    this.hostIf = hostIf;
    this.hostAddr = hostAddr;
    this.addr = addr;
  }

  /** Create namespace number `index` (0-63) in subnet 10.77.`subnet`.0/24. */
  static create(subnet: number, index: number): NetHost {
    if (created.size === 0) removeStale();
    // Interface names have at most 15 characters: "erh" + pid (up to 7 digits) + "-" + index.
    const tag = `${process.pid}-${index}`;
    const h = new NetHost(`${PREFIX}${tag}`, `erh${tag}`, `10.77.${subnet}.${4 * index + 1}`, `10.77.${subnet}.${4 * index + 2}`);
    created.add(h);
    const peer = `ern${tag}`;
    try {
      ip('netns', 'add', h.name);
      ip('link', 'add', h.hostIf, 'type', 'veth', 'peer', 'name', peer);
      ip('link', 'set', peer, 'netns', h.name);
      ip('addr', 'add', `${h.hostAddr}/30`, 'dev', h.hostIf);
      ip('link', 'set', h.hostIf, 'up');
      ip('netns', 'exec', h.name, 'ip', 'addr', 'add', `${h.addr}/30`, 'dev', peer);
      ip('netns', 'exec', h.name, 'ip', 'link', 'set', peer, 'up');
      ip('netns', 'exec', h.name, 'ip', 'link', 'set', 'lo', 'up');
    } catch (err) {
      h.destroySync();
      throw new Error(`cannot create network namespace ${h.name}: ${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? (err as Error).message}`, {
        cause: err,
      });
    }
    return h;
  }

  /** `command args...` run inside the namespace. */
  command(command: string, args: string[]): { command: string; args: string[] } {
    return { command: 'ip', args: ['netns', 'exec', this.name, command, ...args] };
  }

  /** Take the link down: nothing passes either way until {@link restore}. */
  cut(): void {
    ip('link', 'set', this.hostIf, 'down');
  }

  restore(): void {
    ip('link', 'set', this.hostIf, 'up');
  }

  /** Remove the link and the namespace (processes still in it are not killed: stop them first). Idempotent. */
  destroySync(): void {
    if (this.#gone) return;
    this.#gone = true;
    created.delete(this);
    spawnSync('ip', ['link', 'del', this.hostIf], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
  }
}
