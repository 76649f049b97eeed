// DPoP proof checking (RFC 9449 §4.3), used by the token endpoint and the resource
// endpoints alike. Error descriptions follow the shape Okta uses ("'htu' claim in the
// DPoP proof JWT is invalid."), so a client's logs read the same against both.
import { createHash, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, compactVerify } from 'jose';
import {
  ALGORITHMS, ReplayCache, algorithmFor, decodeUnverified, importPublicJwk, isFiniteNumber, nowSeconds,
} from './jwt.mjs';

// RFC 9449 leaves the window to the server; the brief for this fake fixes ±60 s.
const IAT_WINDOW_S = 60;
const MAX_REMEMBERED_JTIS = 100000;

export class DpopError extends Error {
  // useNonce: the proof was fine except for its nonce, so the answer is `use_dpop_nonce`
  // (whose description depends on who asks: authorization or resource server).
  constructor(description, useNonce = false) {
    super(description);
    this.useNonce = useNonce;
  }
}

const claimInvalid = (claim) => new DpopError(`'${claim}' claim in the DPoP proof JWT is invalid.`);

export const newNonce = () => randomBytes(24).toString('base64url');

// base64url(SHA-256(token)), the `ath` a proof sent with `token` must carry.
export const accessTokenHash = (token) => createHash('sha256').update(token, 'ascii').digest('base64url');

// scheme://host[:port]/path of an absolute URL, with the normalization WHATWG URL parsing
// gives (case of scheme and host, default port, dot segments); null if it has a query or
// fragment, which ssflua's contract says htu never carries, or is not a URL at all.
export function htuForm(value) {
  if (typeof value !== 'string' || /[?#]/.test(value)) return null;
  try {
    const u = new URL(value);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return null;
  }
}

export class DpopVerifier {
  constructor() {
    this.seen = new ReplayCache(MAX_REMEMBERED_JTIS);
  }

  reset() {
    this.seen.clear();
  }

  // proof: the DPoP header value (string or undefined). Expectations: htm, htu (already in
  // htuForm), accessToken (resource requests: `ath` must match it), nonce (the nonce the
  // server currently demands, or undefined when it demands none).
  // Resolves to {jkt, jwk} or rejects with a DpopError.
  async verify(proof, { htm, htu, accessToken, nonce }) {
    if (proof === undefined) throw new DpopError('DPoP proof JWT header is missing.');
    // Node joins repeated headers with ", "; a compact JWS never contains a comma.
    const decoded = decodeUnverified(proof);
    if (!decoded) throw new DpopError('DPoP proof JWT cannot be parsed.');
    const { header } = decoded;
    if (header.typ !== 'dpop+jwt') throw new DpopError("'typ' header in the DPoP proof JWT is invalid.");
    if (!ALGORITHMS.includes(header.alg)) throw new DpopError("'alg' header in the DPoP proof JWT is invalid.");
    if (algorithmFor(header.jwk).alg !== header.alg) {
      throw new DpopError("'jwk' header in the DPoP proof JWT is invalid.");
    }
    const key = await importPublicJwk(header.jwk, header.alg);
    if (!key) throw new DpopError("'jwk' header in the DPoP proof JWT is invalid.");

    let claims;
    try {
      const { payload } = await compactVerify(proof, key, { algorithms: [header.alg] });
      claims = JSON.parse(Buffer.from(payload).toString('utf8'));
    } catch {
      throw new DpopError('DPoP proof JWT signature is invalid.');
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      throw new DpopError('DPoP proof JWT cannot be parsed.');
    }

    if (typeof claims.jti !== 'string' || claims.jti === '') throw claimInvalid('jti');
    if (claims.htm !== htm) throw claimInvalid('htm');
    if (htuForm(claims.htu) !== htu) throw claimInvalid('htu');
    const now = nowSeconds();
    if (!isFiniteNumber(claims.iat) || Math.abs(claims.iat - now) > IAT_WINDOW_S) throw claimInvalid('iat');
    if (accessToken !== undefined && claims.ath !== accessTokenHash(accessToken)) throw claimInvalid('ath');
    // Missing and stale nonces get the same answer: the caller sends the current one.
    if (nonce !== undefined && claims.nonce !== nonce) throw new DpopError('nonce', true);
    if (this.seen.has(claims.jti)) throw new DpopError("'jti' claim in the DPoP proof JWT has already been used.");
    this.seen.add(claims.jti, (claims.iat + IAT_WINDOW_S + 1) * 1000);

    return { jkt: await calculateJwkThumbprint(header.jwk, 'sha256'), jwk: header.jwk };
  }
}
