// The org authorization server as far as ssflua meets it: registered clients, the token
// endpoint (client_credentials with private_key_jwt, refresh_token with a client secret,
// DPoP binding and nonces) and the check of issued tokens on the SSF resource endpoints.
// Knows nothing about sockets; server.mjs does the HTTP plumbing.
//
// Error descriptions that Okta is known to send are copied (e.g. "The client_assertion JWT
// kid is invalid."); the others are written in the same style.
import { randomBytes } from 'node:crypto';
import { compactVerify } from 'jose';
import { DpopError, DpopVerifier, htuForm, newNonce } from './dpop.mjs';
import {
  ALGORITHMS, ReplayCache, algorithmFor, decodeUnverified, importPublicJwk, isFiniteNumber, nowSeconds,
} from './jwt.mjs';
import { accessDenied, invalidToken } from './okta-errors.mjs';

export const TOKEN_PATH = '/oauth2/v1/token';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const GRANT_TYPES = ['client_credentials', 'refresh_token'];
const DPOP_MODES = ['off', 'optional', 'required'];
const MAX_ASSERTION_LIFETIME_S = 3600;
const CLOCK_SKEW_S = 5; // how far in the future an assertion's iat may be
const DEFAULT_TOKEN_TTL_S = 3600;
const MAX_TOKEN_TTL_S = 86400;
const MAX_ISSUED_TOKENS = 10000;
const MAX_LOG_ENTRIES = 10000;
const MAX_REMEMBERED_JTIS = 100000;
// Token responses and errors must not be cached (RFC 6749 §5.1).
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const randomToken = () => randomBytes(32).toString('base64url');

class OAuthError extends Error {
  constructor(status, error, description, headers = {}) {
    super(description);
    this.status = status;
    this.error = error;
    this.headers = headers;
  }
}

const invalidRequest = (description) => new OAuthError(400, 'invalid_request', description);
const invalidGrant = () => new OAuthError(400, 'invalid_grant', 'The refresh token is invalid or expired.');
const invalidScope = (description) => new OAuthError(400, 'invalid_scope', description);

// ---------------------------------------------------------------- client registration

const CLIENT_KEYS = ['client_id', 'jwks', 'client_secret', 'scopes', 'token_ttl', 'dpop', 'resource_nonce',
  'refresh_token'];
const nonEmptyString = (v) => typeof v === 'string' && v !== '';

// Validates a POST /__fake/clients body. Resolves to {client} or {problem} (a message for
// the control API's 400), never rejects.
export async function parseClient(body) {
  const unknown = Object.keys(body).filter((k) => !CLIENT_KEYS.includes(k));
  if (unknown.length) return { problem: `unknown keys: ${unknown.join(', ')}` };
  const {
    client_id: clientId, jwks, client_secret: secret, scopes, token_ttl: ttl = DEFAULT_TOKEN_TTL_S,
    dpop = 'off', resource_nonce: resourceNonce = false, refresh_token: refreshToken,
  } = body;
  if (!nonEmptyString(clientId)) return { problem: 'client_id must be a non-empty string' };
  if (!Array.isArray(scopes) || !scopes.every((s) => nonEmptyString(s) && !/\s/.test(s))) {
    return { problem: 'scopes must be an array of scope names' };
  }
  if (secret !== undefined && !nonEmptyString(secret)) return { problem: 'client_secret must be a non-empty string' };
  if (!(Number.isInteger(ttl) && ttl >= 1 && ttl <= MAX_TOKEN_TTL_S)) {
    return { problem: `token_ttl must be an integer 1..${MAX_TOKEN_TTL_S}` };
  }
  if (!DPOP_MODES.includes(dpop)) return { problem: `dpop must be one of ${DPOP_MODES.join(', ')}` };
  if (typeof resourceNonce !== 'boolean') return { problem: 'resource_nonce must be a boolean' };
  if (refreshToken !== undefined && !(nonEmptyString(refreshToken) && /^\S+$/.test(refreshToken))) {
    return { problem: 'refresh_token must be a non-empty string without spaces' };
  }

  const keys = [];
  if (jwks !== undefined) {
    if (!isObject(jwks) || !Array.isArray(jwks.keys) || jwks.keys.length === 0) {
      return { problem: 'jwks must be {keys: [public JWKs]} with at least one key' };
    }
    for (const [i, jwk] of jwks.keys.entries()) {
      const { alg, problem } = algorithmFor(jwk);
      if (problem) return { problem: `jwks.keys[${i}] ${problem}` };
      if (jwk.alg !== undefined && jwk.alg !== alg) return { problem: `jwks.keys[${i}].alg must be ${alg}` };
      if (jwk.use !== undefined && jwk.use !== 'sig') return { problem: `jwks.keys[${i}].use must be sig` };
      if (jwk.kid !== undefined && !nonEmptyString(jwk.kid)) return { problem: `jwks.keys[${i}].kid must be a string` };
      const key = await importPublicJwk(jwk, alg);
      if (!key) return { problem: `jwks.keys[${i}] cannot be imported for ${alg} (RSA needs 2048 bits or more)` };
      keys.push({ kid: jwk.kid, alg, key });
    }
  }
  if (!keys.length && secret === undefined) return { problem: 'a client needs jwks or client_secret to authenticate' };

  return {
    client: {
      client_id: clientId,
      keys,
      client_secret: secret,
      scopes: [...new Set(scopes)],
      token_ttl: ttl,
      dpop,
      resource_nonce: resourceNonce,
      refresh_token: refreshToken,
    },
  };
}

// ---------------------------------------------------------------- request parsing

// The form as an object of non-empty values. RFC 6749 §3.2 and §3.1: parameters without a
// value count as absent, and none may appear twice.
function parseForm(contentType, text) {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw invalidRequest('The request must be sent as application/x-www-form-urlencoded.');
  }
  const form = {};
  for (const [name, value] of new URLSearchParams(text)) {
    if (Object.prototype.hasOwnProperty.call(form, name)) {
      throw invalidRequest(`The '${name}' parameter was specified more than once.`);
    }
    if (value !== '') form[name] = value;
  }
  return form;
}

// {id, secret} from `Authorization: Basic`, null when absent, 'malformed' when unusable.
// Both parts are form-urlencoded inside the base64 (RFC 6749 §2.3.1).
function parseBasic(authorization) {
  if (!/^Basic(\s|$)/i.test(authorization ?? '')) return null;
  const m = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(authorization);
  if (!m) return 'malformed';
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return 'malformed';
  const decode = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
  try {
    return { id: decode(text.slice(0, colon)), secret: decode(text.slice(colon + 1)) };
  } catch {
    return 'malformed';
  }
}

export function parseAuthorization(value) {
  const m = /^(Bearer|DPoP) +(\S+) *$/i.exec(value ?? '');
  return m ? { scheme: m[1].toLowerCase(), token: m[2] } : null;
}

// ---------------------------------------------------------------- the authorization server

export class AuthServer {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
    this.dpop = new DpopVerifier();
    this.assertionJtis = new ReplayCache(MAX_REMEMBERED_JTIS);
    this.reset();
  }

  reset() {
    this.clients = new Map(); // client_id -> client (see parseClient)
    this.issued = new Map(); // access token -> {client_id, scopes, expiresAt, jkt, resourceNonce}
    this.refreshTokens = new Map(); // refresh token -> {client_id, scopes}
    this.tokenLog = [];
    this.dpop.reset();
    this.assertionJtis.clear();
    this.rotateNonces();
  }

  rotateNonces() {
    this.nonces = { authorization_server: newNonce(), resource_server: newNonce() };
    return { ...this.nonces };
  }

  // Registering a client_id again replaces it; its earlier refresh tokens stop working.
  register(client) {
    this.clients.set(client.client_id, client);
    for (const [token, record] of this.refreshTokens) {
      if (record.client_id === client.client_id) this.refreshTokens.delete(token);
    }
    if (client.refresh_token) {
      this.refreshTokens.set(client.refresh_token, { client_id: client.client_id, scopes: client.scopes });
    }
    return {
      client_id: client.client_id,
      kids: client.keys.map((k) => k.kid ?? null),
      client_secret: client.client_secret !== undefined,
      scopes: client.scopes,
      token_ttl: client.token_ttl,
      dpop: client.dpop,
      resource_nonce: client.resource_nonce,
      refresh_token: client.refresh_token !== undefined,
    };
  }

  // The issued access token's record, expired or not; undefined if never issued.
  lookupToken(token) {
    return this.issued.get(token);
  }

  // ------------------------------------------------------------ POST /oauth2/v1/token

  // request: {contentType, body, authorization, proof (DPoP header), tokenUrl (the URL the
  // client called, which the assertion's aud and the proof's htu must name)}.
  // Resolves to {status, body, headers}; OAuth failures are answers, not rejections.
  async token(request) {
    const entry = {
      time: new Date().toISOString(),
      grant_type: null,
      client_assertion_type: null,
      scope: null,
      client_auth: 'none',
      client_id: null,
      dpop: request.proof !== undefined,
      assertion: null,
      dpop_proof: decodeUnverified(request.proof),
      status: null,
      error: null,
      error_description: null,
      token_type: null,
    };
    if (this.tokenLog.length >= MAX_LOG_ENTRIES) this.tokenLog.shift();
    this.tokenLog.push(entry);
    try {
      const body = await this.grant(request, entry);
      entry.status = 200;
      entry.token_type = body.token_type;
      return { status: 200, body, headers: NO_STORE };
    } catch (e) {
      if (!(e instanceof OAuthError)) throw e;
      entry.status = e.status;
      entry.error = e.error;
      entry.error_description = e.message;
      return {
        status: e.status,
        body: { error: e.error, error_description: e.message },
        headers: { ...NO_STORE, ...e.headers },
      };
    }
  }

  async grant(request, entry) {
    const form = parseForm(request.contentType, request.body);
    entry.grant_type = form.grant_type ?? null;
    entry.client_assertion_type = form.client_assertion_type ?? null;
    entry.scope = form.scope ?? null;
    entry.assertion = decodeUnverified(form.client_assertion);

    if (form.grant_type === undefined) throw invalidRequest("The 'grant_type' parameter is required.");
    if (!GRANT_TYPES.includes(form.grant_type)) {
      throw new OAuthError(400, 'unsupported_grant_type',
        'The authorization grant type is not supported by the authorization server.');
    }

    const basic = parseBasic(request.authorization);
    const methods = [];
    if (form.client_assertion !== undefined || form.client_assertion_type !== undefined) methods.push('private_key_jwt');
    if (basic !== null) methods.push('client_secret_basic');
    if (form.client_secret !== undefined) methods.push('client_secret_post');
    entry.client_auth = methods[0] ?? 'none';
    if (methods.length > 1) {
      throw invalidRequest('Cannot supply multiple client credentials. Use one of the following: credentials in '
        + 'the Authorization header, credentials in the post body, or a client_assertion in the post body.');
    }

    const client = await this.authenticateClient(entry.client_auth, form, basic, request.tokenUrl);
    entry.client_id = client.client_id;

    let granted;
    let refreshRecord;
    if (form.grant_type === 'client_credentials') {
      if (entry.client_auth !== 'private_key_jwt') {
        throw new OAuthError(401, 'invalid_client', 'Client Credentials requests to the Org Authorization Server '
          + 'must use the private_key_jwt token_endpoint_auth_method.');
      }
      granted = this.grantedScopes(form.scope, client.scopes, true);
    } else {
      if (form.refresh_token === undefined) throw invalidRequest("The 'refresh_token' parameter is required.");
      refreshRecord = this.refreshTokens.get(form.refresh_token);
      if (!refreshRecord || refreshRecord.client_id !== client.client_id) throw invalidGrant();
      granted = this.grantedScopes(form.scope, refreshRecord.scopes.filter((s) => client.scopes.includes(s)), false);
    }

    const jkt = await this.bindDpop(client, request.proof, request.tokenUrl);
    // Concurrent requests with the same refresh token interleave at the awaits above (jose
    // verifies signatures on node's thread pool): only the first to get here may rotate it.
    if (refreshRecord && this.refreshTokens.get(form.refresh_token) !== refreshRecord) throw invalidGrant();

    // Every check passed: only now are tokens issued and the refresh token rotated, so a
    // `use_dpop_nonce` retry can still use the refresh token it was sent with.
    const response = this.issue(client, granted, jkt);
    if (refreshRecord) {
      this.refreshTokens.delete(form.refresh_token);
      response.refresh_token = randomToken();
      this.refreshTokens.set(response.refresh_token, refreshRecord);
    }
    return response;
  }

  // Resolves to the authenticated client; rejects with 401 invalid_client.
  async authenticateClient(method, form, basic, tokenUrl) {
    const fail = (description) => {
      const headers = method === 'client_secret_basic' ? { 'WWW-Authenticate': `Basic realm="${this.baseUrl}"` } : {};
      return new OAuthError(401, 'invalid_client', description, headers);
    };
    const unknownClient = () => fail("Invalid value for 'client_id' parameter.");

    if (method === 'private_key_jwt') return this.verifyAssertion(form, tokenUrl, fail, unknownClient);
    if (method === 'none') throw fail('Client authentication failed: no client credentials were sent.');

    if (basic === 'malformed') throw fail('The Authorization header is not valid HTTP Basic client authentication.');
    const id = method === 'client_secret_basic' ? basic.id : form.client_id;
    const secret = method === 'client_secret_basic' ? basic.secret : form.client_secret;
    if (method === 'client_secret_basic' && form.client_id !== undefined && form.client_id !== id) throw unknownClient();
    const client = this.clients.get(id);
    if (!client) throw unknownClient();
    if (client.client_secret === undefined || client.client_secret !== secret) {
      throw fail('The client secret supplied for a confidential client is invalid.');
    }
    return client;
  }

  async verifyAssertion(form, tokenUrl, fail, unknownClient) {
    if (form.client_assertion_type !== JWT_BEARER) {
      throw invalidRequest(`The 'client_assertion_type' parameter must be ${JWT_BEARER}.`);
    }
    if (form.client_assertion === undefined) throw invalidRequest("The 'client_assertion' parameter is required.");
    const decoded = decodeUnverified(form.client_assertion);
    if (!decoded) throw fail('The client_assertion token is malformed.');
    const { header, claims: unverified } = decoded;
    const clientId = unverified.sub;
    if (typeof clientId !== 'string') throw unknownClient();
    if (form.client_id !== undefined && form.client_id !== clientId) throw unknownClient();
    const client = this.clients.get(clientId);
    if (!client) throw unknownClient();

    // Okta: with several keys the kid must name one; a kid that names none is invalid.
    const candidates = header.kid === undefined
      ? (client.keys.length === 1 ? client.keys : [])
      : client.keys.filter((k) => k.kid === header.kid);
    if (!candidates.length) throw fail('The client_assertion JWT kid is invalid.');

    let claims;
    for (const candidate of candidates) {
      if (!ALGORITHMS.includes(header.alg) || candidate.alg !== header.alg) continue;
      try {
        const { payload } = await compactVerify(form.client_assertion, candidate.key, { algorithms: [header.alg] });
        claims = JSON.parse(Buffer.from(payload).toString('utf8'));
        break;
      } catch {
        // try the next key with this kid, if any
      }
    }
    if (!isObject(claims)) throw fail('The client_assertion signature is invalid.');

    if (claims.iss !== clientId || claims.sub !== clientId) {
      throw fail("The client_assertion token's 'iss' and 'sub' claims must both be the client_id.");
    }
    const audOk = typeof claims.aud === 'string' ? claims.aud === tokenUrl
      : Array.isArray(claims.aud) && claims.aud.includes(tokenUrl);
    if (!audOk) throw fail('The audience claim for client_assertion must be the endpoint invoked for the request.');
    const now = nowSeconds();
    if (!isFiniteNumber(claims.exp)) throw fail("The client_assertion token must contain an 'exp' claim.");
    if (!isFiniteNumber(claims.iat)) throw fail("The client_assertion token must contain an 'iat' claim.");
    if (claims.exp <= now) throw fail('The client_assertion token is expired.');
    if (claims.iat > now + CLOCK_SKEW_S) throw fail('The client_assertion token was issued in the future.');
    if (claims.exp - claims.iat > MAX_ASSERTION_LIFETIME_S) {
      throw fail('The client_assertion token has an expiration too far into the future.');
    }
    if (!nonEmptyString(claims.jti)) throw fail("The client_assertion token must contain a 'jti' claim.");
    const replayKey = `${clientId}\n${claims.jti}`;
    if (this.assertionJtis.has(replayKey)) throw fail("The client_assertion token's 'jti' has already been used.");
    this.assertionJtis.add(replayKey, claims.exp * 1000);
    return client;
  }

  // Scopes to grant: those requested (all of `allowed` if none were and that is
  // permitted), each of which must be allowed.
  grantedScopes(scopeParam, allowed, required) {
    const requested = [...new Set((scopeParam ?? '').split(' ').filter(Boolean))];
    if (!requested.length) {
      if (required) throw invalidScope("The 'scope' parameter is required.");
      return allowed;
    }
    const refused = requested.filter((s) => !allowed.includes(s));
    if (refused.length) {
      throw invalidScope(`The following requested scopes are not allowed for this client: ${refused.join(', ')}.`);
    }
    return requested;
  }

  // The JWK thumbprint to bind the token to, or null for a Bearer token.
  async bindDpop(client, proof, tokenUrl) {
    if (client.dpop === 'off' || (client.dpop === 'optional' && proof === undefined)) return null;
    const nonce = this.nonces.authorization_server;
    try {
      const { jkt } = await this.dpop.verify(proof, { htm: 'POST', htu: htuForm(tokenUrl), nonce });
      return jkt;
    } catch (e) {
      if (!(e instanceof DpopError)) throw e;
      if (e.useNonce) {
        throw new OAuthError(400, 'use_dpop_nonce', 'Authorization server requires nonce in DPoP proof.',
          { 'DPoP-Nonce': nonce });
      }
      throw new OAuthError(400, 'invalid_dpop_proof', e.message);
    }
  }

  issue(client, scopes, jkt) {
    const now = Date.now();
    for (const [token, record] of this.issued) {
      if (record.expiresAt > now && this.issued.size < MAX_ISSUED_TOKENS) break;
      this.issued.delete(token); // oldest first; expired ones are useless anyway
    }
    const accessToken = randomToken();
    this.issued.set(accessToken, {
      client_id: client.client_id,
      scopes: [...scopes],
      expiresAt: now + client.token_ttl * 1000,
      jkt,
      resourceNonce: client.resource_nonce,
    });
    return {
      token_type: jkt ? 'DPoP' : 'Bearer',
      expires_in: client.token_ttl,
      access_token: accessToken,
      scope: scopes.join(' '),
    };
  }

  // ------------------------------------------------------------ the resource endpoints

  // Resolves to the principal ({client_id, scopes}) allowed to use a route that needs
  // `scope`, or rejects with an OktaError (401/403 and Okta's WWW-Authenticate shapes).
  // credential: parseAuthorization() of the request; staticPrincipal: the record of a
  // fixed test token (tok-rw, ...), which is always a Bearer token.
  async authorizeResource({ scope, credential, staticPrincipal, proof, method, url, path }) {
    const base = this.baseUrl;
    const params = `authorization_uri="${base}/oauth2/v1/authorize", realm="${base}", scope="${scope}"`;
    const detail = (error, description) => `, error="${error}", error_description="${description}", resource="${path}"`;
    const dpopScheme = `DPoP algs="${ALGORITHMS.join(' ')}", ${params}`;
    const bearerFail = (error, description) => invalidToken(`Bearer ${params}${detail(error, description)}`);
    const dpopFail = (error, description, headers) => invalidToken(`${dpopScheme}${detail(error, description)}`, headers);

    if (!credential) throw invalidToken(`Bearer ${params}`);
    const issued = staticPrincipal ? undefined : this.issued.get(credential.token);
    const principal = staticPrincipal ?? issued;
    const fail = credential.scheme === 'dpop' ? dpopFail : bearerFail;
    if (!principal) throw fail('invalid_token', 'The access token is invalid.');
    const bound = issued?.jkt;
    if (issued && Date.now() >= issued.expiresAt) {
      throw (bound ? dpopFail : bearerFail)('invalid_token', 'The access token is expired.');
    }

    if (!bound && credential.scheme === 'dpop') throw dpopFail('invalid_token', 'The access token is not DPoP-bound.');
    if (bound) {
      if (credential.scheme !== 'dpop') {
        throw dpopFail('invalid_dpop_proof', 'A DPoP-bound access token must be sent with the DPoP scheme.');
      }
      const nonce = issued.resourceNonce ? this.nonces.resource_server : undefined;
      let jkt;
      try {
        ({ jkt } = await this.dpop.verify(proof, { htm: method, htu: htuForm(url), accessToken: credential.token, nonce }));
      } catch (e) {
        if (!(e instanceof DpopError)) throw e;
        if (e.useNonce) {
          throw dpopFail('use_dpop_nonce', 'Resource server requires nonce in DPoP proof.', { 'DPoP-Nonce': nonce });
        }
        throw dpopFail('invalid_dpop_proof', e.message);
      }
      if (jkt !== bound) throw dpopFail('invalid_dpop_proof', "The DPoP proof JWT 'jwk' does not match the access token.");
    }

    if (!principal.scopes.includes(scope)) {
      throw accessDenied(`${bound ? dpopScheme : `Bearer ${params}`}${detail('insufficient_scope',
        'The access token provided does not contain the required scopes.')}`);
    }
    return { client_id: principal.client_id, scopes: principal.scopes };
  }
}
