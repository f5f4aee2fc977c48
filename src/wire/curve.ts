/**
 * A CURVE client's keys (Z85 text): the router's public key and the client's own pair.
 * With them every socket a client opens to the router is encrypted and authenticated.
 */
export interface CurveClientKeys {
  serverKey: string;
  publicKey: string;
  secretKey: string;
}

/** zeromq.js socket options for a CURVE client; none without keys (plain ZMTP). */
export function curveClientOptions(keys: CurveClientKeys | undefined): { curveServerKey?: string; curvePublicKey?: string; curveSecretKey?: string } {
  return keys ? { curveServerKey: keys.serverKey, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey } : {};
}
