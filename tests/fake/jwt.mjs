// JWT helpers shared by client-assertion and DPoP-proof checking: safe decoding, the
// two algorithms the fake accepts, and a bounded replay cache for `jti` values.
import { decodeJwt, decodeProtectedHeader, importJWK } from 'jose';

// Okta accepts more (RS384, ES512, ...); the fake sticks to what ssflua promises.
export const ALGORITHMS = ['RS256', 'ES256'];

// Members that only a private (or symmetric) JWK carries.
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

// {header, claims} of a compact JWS, or null when it is not one. Nothing is verified:
// this feeds logs and decides which key to verify with.
export function decodeUnverified(jwt) {
  if (typeof jwt !== 'string' || !/^[\w-]+\.[\w-]+\.[\w-]*$/.test(jwt)) return null;
  try {
    const header = decodeProtectedHeader(jwt);
    const claims = decodeJwt(jwt);
    return isObject(header) && isObject(claims) ? { header, claims } : null;
  } catch {
    return null;
  }
}

// The algorithm a public JWK can verify, or a reason why it is unusable.
// Node decodes base64 leniently, so the members are checked here.
const isBase64url = (v) => typeof v === 'string' && /^[A-Za-z0-9_-]+$/.test(v);

export function algorithmFor(jwk) {
  if (!isObject(jwk)) return { problem: 'is not an object' };
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) return { problem: 'is not a public key' };
  if (jwk.kty === 'RSA' && isBase64url(jwk.n) && isBase64url(jwk.e)) return { alg: 'RS256' };
  if (jwk.kty === 'EC' && jwk.crv === 'P-256' && isBase64url(jwk.x) && isBase64url(jwk.y)) return { alg: 'ES256' };
  return { problem: 'must be an RSA key or an EC P-256 key' };
}

// Resolves to a verification key for `alg`, or null when the JWK is unusable for it.
export async function importPublicJwk(jwk, alg) {
  const found = algorithmFor(jwk);
  if (found.alg !== alg) return null;
  try {
    const key = await importJWK(jwk, alg);
    // jose refuses RS256 with less than 2048 bits only when verifying; say so up front.
    return alg === 'RS256' && key.asymmetricKeyDetails.modulusLength < 2048 ? null : key;
  } catch {
    return null;
  }
}

export const isFiniteNumber = (v) => typeof v === 'number' && Number.isFinite(v);
export const nowSeconds = () => Math.floor(Date.now() / 1000);

// Remembers ids until they could no longer be accepted anyway (their token's expiry), so
// memory stays bounded by the rate of requests; a hard cap guards against floods.
export class ReplayCache {
  constructor(maxEntries) {
    this.maxEntries = maxEntries;
    this.entries = new Map(); // id -> forget-after (epoch ms)
  }

  has(id) {
    const until = this.entries.get(id);
    return until !== undefined && until > Date.now();
  }

  add(id, untilMs) {
    const now = Date.now();
    for (const [key, until] of this.entries) {
      if (until > now && this.entries.size < this.maxEntries) break;
      this.entries.delete(key); // Map order is insertion order: oldest first
    }
    this.entries.set(id, untilMs);
  }

  clear() {
    this.entries.clear();
  }
}
