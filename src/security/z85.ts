/**
 * Z85, ZeroMQ's text encoding of binary keys (rfc.zeromq.org/spec/32): 4 bytes become 5
 * printable characters. CURVE keys are 32 bytes, 40 characters in Z85. zeromq.js gives
 * and takes keys as Z85 text, but a ZAP request carries the client's key as raw bytes.
 */
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const DECODE = new Map(ALPHABET.split('').map((c, i) => [c, i]));

/** Encode bytes whose length is a multiple of 4. @throws {RangeError} otherwise */
export function z85Encode(bytes: Uint8Array): string {
  if (bytes.length % 4 !== 0) throw new RangeError(`z85: input length ${bytes.length} is not a multiple of 4`);
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let value = ((bytes[i]! << 24) >>> 0) + (bytes[i + 1]! << 16) + (bytes[i + 2]! << 8) + bytes[i + 3]!;
    const chunk: string[] = [];
    for (let j = 0; j < 5; j++) {
      chunk.unshift(ALPHABET[value % 85]!);
      value = Math.floor(value / 85);
    }
    out += chunk.join('');
  }
  return out;
}

/** Decode Z85 text whose length is a multiple of 5. @throws {RangeError} on a bad length or character */
export function z85Decode(text: string): Uint8Array {
  if (text.length % 5 !== 0) throw new RangeError(`z85: text length ${text.length} is not a multiple of 5`);
  const out = new Uint8Array((text.length / 5) * 4);
  for (let i = 0, o = 0; i < text.length; i += 5, o += 4) {
    let value = 0;
    for (let j = 0; j < 5; j++) {
      const d = DECODE.get(text[i + j]!);
      if (d === undefined) throw new RangeError(`z85: "${text[i + j]}" is not a Z85 character`);
      value = value * 85 + d;
    }
    if (value > 0xffffffff) throw new RangeError('z85: a group decodes past 32 bits');
    out[o] = value >>> 24;
    out[o + 1] = (value >>> 16) & 0xff;
    out[o + 2] = (value >>> 8) & 0xff;
    out[o + 3] = value & 0xff;
  }
  return out;
}

/** True when `text` is a Z85-encoded 32-byte CURVE key. */
export function isCurveKey(text: string): boolean {
  if (text.length !== 40) return false;
  try {
    z85Decode(text);
    return true;
  } catch {
    return false;
  }
}
