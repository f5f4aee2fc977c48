/**
 * IP address literals and CIDR blocks for the `cidr` pattern operator, as aws/event-ruler
 * reads them: IPv4 as four dot-separated decimal numbers 0-255 (leading zeros read as
 * decimal, as Java's InetAddress does), IPv6 as hex groups with at most one `::` (no
 * embedded IPv4 part, no zone). Host names are never resolved.
 */

/** An address: 4 bytes for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

/** A CIDR block: the network's bytes and how many leading bits must agree. */
export interface CidrBlock {
  readonly network: IpBytes;
  readonly bits: number;
}

const IPV6_CHARS = /^[0-9a-fA-F:]+$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** The bytes of an IPv4 or IPv6 literal, or undefined when `text` is not one. */
export function parseIp(text: string): IpBytes | undefined {
  if (text.length > 39 || text.length < 2) return undefined;
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return v4;
  return text.includes(':') && IPV6_CHARS.test(text) ? parseIpv6(text) : undefined;
}

/** Four dot-separated decimal numbers of 1-3 digits, each 0-255; a loop, since it runs per event. */
function parseIpv4(text: string): IpBytes | undefined {
  const out = new Uint8Array(4);
  let part = 0;
  let digits = 0;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (++digits > 3) return undefined;
      n = n * 10 + (c - 48);
    } else if (c === 46 && digits > 0 && part < 3) {
      if (n > 255) return undefined;
      out[part++] = n;
      digits = 0;
      n = 0;
    } else return undefined;
  }
  if (part !== 3 || digits === 0 || n > 255) return undefined;
  out[3] = n;
  return out;
}

function parseIpv6(text: string): IpBytes | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (part: string): string[] | undefined => {
    if (part === '') return [];
    const groups = part.split(':');
    return groups.every((g) => HEX_GROUP.test(g)) ? groups : undefined;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  // With "::" at least one group is elided; without it, all eight are written.
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array<string>(missing).fill('0'), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = Number.parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

/**
 * A CIDR block from `address/bits`, or a message saying what is wrong with it.
 * Bits run 0-32 for IPv4 and 0-128 for IPv6; host bits set in the address are ignored.
 */
export function parseCidr(text: string): CidrBlock | string {
  const slash = text.indexOf('/');
  if (slash < 0 || slash !== text.lastIndexOf('/')) return 'a CIDR block is "address/bits", e.g. "10.0.0.0/24" or "2001:db8::/32"';
  const network = parseIp(text.slice(0, slash));
  if (network === undefined) return `"${text.slice(0, slash)}" is not an IPv4 or IPv6 address`;
  const bitsText = text.slice(slash + 1);
  const max = network.length * 8;
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) return `mask bits must be a whole number 0-${max}, got "${bitsText}"`;
  return { network, bits: Number(bitsText) };
}

/** Whether `ip` lies in `block` (an IPv4 address never lies in an IPv6 block, nor the reverse). */
export function cidrContains(block: CidrBlock, ip: IpBytes): boolean {
  if (ip.length !== block.network.length) return false;
  const whole = block.bits >> 3;
  for (let i = 0; i < whole; i++) if (ip[i] !== block.network[i]) return false;
  const rest = block.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[whole]! & mask) === (block.network[whole]! & mask);
}

/** Whether two addresses are the same address of the same family. */
export function sameIp(a: IpBytes, b: IpBytes): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
