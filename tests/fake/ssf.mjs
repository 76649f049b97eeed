// The SSF transmitter itself: tokens, streams, request validation, handlers and the
// verification SET push. Knows nothing about sockets; server.mjs does the HTTP plumbing.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import {
  conflict, notFound, quote, randomAlnum, tooManyRequests, validationFailed,
} from './okta-errors.mjs';

const PUSH_METHODS = [
  'https://schemas.openid.net/secevent/risc/delivery-method/push',
  'urn:ietf:rfc:8935',
];
const EVENTS_SUPPORTED = [
  'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  'https://schemas.openid.net/secevent/caep/event-type/credential-change',
];
const VERIFICATION_EVENT = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
const MAX_STREAMS_PER_ORG = 10;
const DELIVERY_TIMEOUT_MS = 5000;
const MAX_LOG_ENTRIES = 10000;

const BUILTIN_TOKENS = {
  'tok-rw': { client_id: '0oaclientA', scopes: ['ssf.read', 'ssf.manage'] },
  'tok-ro': { client_id: '0oaclientA', scopes: ['ssf.read'] },
  'tok-rw-b': { client_id: '0oaclientB', scopes: ['ssf.read', 'ssf.manage'] },
  'tok-none': { client_id: '0oaclientC', scopes: [] },
};

// Per-client values Okta sets itself. Client B gets an array `aud` and client A a null
// interval so the client under test meets both shapes the schema allows.
function audienceFor(clientId) {
  if (clientId === '0oaclientA') return 'https://receiver.example.com/aud-a';
  if (clientId === '0oaclientB') {
    return ['https://receiver.example.com/aud-b1', 'https://receiver.example.com/aud-b2'];
  }
  return `https://receiver.example.com/aud-${clientId}`;
}
const defaultMinInterval = (clientId) => (clientId === '0oaclientA' ? null : 0);

// Which handler serves which path/method, and the scope it needs (null = no auth).
// `body: true` marks operations whose request must carry a JSON object.
export const ROUTES = {
  '/.well-known/ssf-configuration': { GET: { op: 'metadata', scope: null } },
  '/oauth2/v1/keys': { GET: { op: 'keys', scope: null } },
  '/api/v1/ssf/stream': {
    GET: { op: 'getStreams', scope: 'ssf.read' },
    POST: { op: 'createStream', scope: 'ssf.manage', body: true },
    PUT: { op: 'replaceStream', scope: 'ssf.manage', body: true },
    PATCH: { op: 'updateStream', scope: 'ssf.manage', body: true },
    DELETE: { op: 'deleteStream', scope: 'ssf.manage' },
  },
  '/api/v1/ssf/stream/status': { GET: { op: 'getStatus', scope: 'ssf.read' } },
  '/api/v1/ssf/stream/verification': {
    POST: { op: 'verify', scope: 'ssf.manage', body: true },
  },
};

// ---------------------------------------------------------------- validation helpers

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

// RFC 3986 absolute URI: a scheme, a colon, something after it, and no whitespace.
// WHATWG URL parsing then rejects things like `http://` with no host.
function isAbsoluteUri(s) {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:[^\s\u0000-\u001f\u007f]+$/.test(s)) return false;
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

function checkUri(problems, field, value, maxLength) {
  if (typeof value !== 'string') {
    problems.push({ field, message: `${quote(value)} must be a string` });
  } else if (value.length > maxLength) {
    problems.push({ field, message: `${quote(value)} exceeds the maximum length of ${maxLength}` });
  } else if (!isAbsoluteUri(value)) {
    problems.push({ field, message: `${quote(value)} is not a valid absolute URI` });
  }
}

function checkDelivery(problems, delivery) {
  if (delivery === undefined) {
    problems.push({ field: 'delivery', message: 'is required' });
    return;
  }
  if (!isObject(delivery)) {
    problems.push({ field: 'delivery', message: `${quote(delivery)} must be an object` });
    return;
  }
  if (!has(delivery, 'method')) {
    problems.push({ field: 'delivery.method', message: 'is required' });
  } else if (!PUSH_METHODS.includes(delivery.method)) {
    problems.push({
      field: 'delivery.method',
      message: `${quote(delivery.method)} is not one of [${PUSH_METHODS.join(', ')}]`,
    });
  }
  if (!has(delivery, 'endpoint_url')) {
    problems.push({ field: 'delivery.endpoint_url', message: 'is required' });
  } else {
    checkUri(problems, 'delivery.endpoint_url', delivery.endpoint_url, 2048);
  }
  const auth = delivery.authorization_header;
  if (auth !== undefined && auth !== null) {
    if (typeof auth !== 'string') {
      problems.push({ field: 'delivery.authorization_header', message: `${quote(auth)} must be a string or null` });
    } else if (auth.length > 8192) {
      problems.push({
        field: 'delivery.authorization_header',
        message: `${quote(auth)} exceeds the maximum length of 8192`,
      });
    }
  }
}

function checkEventsRequested(problems, events) {
  if (events === undefined) {
    problems.push({ field: 'events_requested', message: 'is required' });
    return;
  }
  if (!Array.isArray(events)) {
    problems.push({ field: 'events_requested', message: `${quote(events)} must be an array` });
    return;
  }
  if (events.length > 50) {
    problems.push({ field: 'events_requested', message: `must contain at most 50 items, got ${events.length}` });
    return;
  }
  events.forEach((e, i) => checkUri(problems, `events_requested[${i}]`, e, 256));
}

function checkFormat(problems, body) {
  if (has(body, 'format') && body.format !== 'iss_sub') {
    problems.push({ field: 'format', message: `${quote(body.format)} is not one of [iss_sub]` });
  }
}

// Keep only the delivery fields the transmitter knows about; unknown keys are dropped.
function pickDelivery(d) {
  const out = { method: d.method, endpoint_url: d.endpoint_url };
  if (has(d, 'authorization_header')) out.authorization_header = d.authorization_header;
  return out;
}

function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---------------------------------------------------------------- signing key

export async function createSigner() {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return {
    jwks: { keys: [{ ...jwk, kid, use: 'sig', alg: 'RS256' }] },
    sign: (claims) => new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'secevent+jwt' })
      .sign(privateKey),
  };
}

// POST a SET; resolves to {status, response_body} or {error}, never rejects.
function postSet(url, headers, payload) {
  return new Promise((resolve) => {
    let target;
    try {
      target = new URL(url);
    } catch {
      resolve({ error: 'invalid URL' });
      return;
    }
    const lib = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : null;
    if (!lib) {
      resolve({ error: `unsupported URL scheme ${target.protocol}` });
      return;
    }
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = lib.request(target, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        if (text.length < 4096) text += chunk; // keep a bounded excerpt for the log
      });
      res.on('end', () => finish({ status: res.statusCode, response_body: text.slice(0, 4096) }));
      res.on('error', (e) => finish({ error: e.message }));
    });
    // One deadline for the whole exchange, so a receiver that stalls mid-body is cut off too.
    const timer = setTimeout(() => {
      req.destroy(new Error(`timed out after ${DELIVERY_TIMEOUT_MS} ms`));
    }, DELIVERY_TIMEOUT_MS);
    req.on('error', (e) => finish({ error: e.message }));
    req.end(payload);
  });
}

// ---------------------------------------------------------------- the transmitter

export class Transmitter {
  constructor(baseUrl, signer) {
    this.baseUrl = baseUrl;
    this.signer = signer;
    // Bumped by reset() so pushes still in flight do not log into the new epoch.
    this.generation = 0;
    this.reset();
  }

  reset() {
    this.generation++;
    this.tokens = new Map(Object.entries(BUILTIN_TOKENS).map(([t, v]) => [t, { ...v }]));
    this.streams = new Map(); // stream_id -> internal stream record
    this.deliveries = [];
    this.config = {
      min_verification_interval: undefined, // undefined: per-client default
      drop_deliveries: false,
      wrong_state: false,
    };
  }

  // ------------------------------------------------------------ control API helpers

  addToken(token, clientId, scopes) {
    this.tokens.set(token, { client_id: clientId, scopes: [...scopes] });
  }

  lookupToken(token) {
    return this.tokens.get(token);
  }

  // Applies to existing streams too, so a test can tighten the interval mid-run.
  setMinVerificationInterval(value) {
    this.config.min_verification_interval = value;
    for (const s of this.streams.values()) s.min_verification_interval = value;
  }

  setStatus(streamId, status) {
    const s = this.streams.get(streamId);
    if (!s) return false;
    s.status = status;
    return true;
  }

  dumpStreams() {
    return [...this.streams.values()].map((s) => {
      const { lastVerificationMs, ...rest } = s;
      return structuredClone(rest);
    });
  }

  // ------------------------------------------------------------ SSF operations
  // Each takes {client, query, body} and returns {status, body?}; errors are thrown.

  metadata() {
    const b = this.baseUrl;
    return {
      status: 200,
      body: {
        issuer: b,
        jwks_uri: `${b}/oauth2/v1/keys`,
        configuration_endpoint: `${b}/api/v1/ssf/stream`,
        verification_endpoint: `${b}/api/v1/ssf/stream/verification`,
        delivery_methods_supported: [...PUSH_METHODS],
        spec_version: '1_0-ID3',
        authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
        default_subjects: 'ALL',
      },
    };
  }

  keys() {
    return { status: 200, body: this.signer.jwks };
  }

  getStreams({ client, query }) {
    if (!query.has('stream_id')) {
      const own = this.streamOf(client);
      return { status: 200, body: own ? [this.render(own)] : [] };
    }
    return { status: 200, body: this.render(this.ownedStream(client, query.get('stream_id'))) };
  }

  createStream({ client, body }) {
    const problems = [];
    checkDelivery(problems, body.delivery);
    checkEventsRequested(problems, body.events_requested);
    checkFormat(problems, body);
    if (problems.length) throw validationFailed(problems);

    if (this.streamOf(client)) {
      throw conflict(`An SSF stream already exists for client ID ${client.client_id}`);
    }
    if (this.streams.size >= MAX_STREAMS_PER_ORG) {
      throw conflict(`The org already has the maximum of ${MAX_STREAMS_PER_ORG} SSF streams`);
    }
    const stream = {
      stream_id: `esc${randomAlnum(17)}`,
      client_id: client.client_id,
      iss: this.baseUrl,
      aud: audienceFor(client.client_id),
      delivery: pickDelivery(body.delivery),
      events_requested: [...body.events_requested],
      events_supported: [...EVENTS_SUPPORTED],
      events_delivered: body.events_requested.filter((e) => EVENTS_SUPPORTED.includes(e)),
      format: body.format,
      min_verification_interval: this.config.min_verification_interval === undefined
        ? defaultMinInterval(client.client_id)
        : this.config.min_verification_interval,
      status: 'enabled',
      lastVerificationMs: null,
    };
    this.streams.set(stream.stream_id, stream);
    return { status: 201, body: this.render(stream) };
  }

  replaceStream(ctx) {
    return this.modifyStream(ctx, false);
  }

  updateStream(ctx) {
    return this.modifyStream(ctx, true);
  }

  // PUT and PATCH take the same full StreamConfiguration. PUT drops optional fields that
  // are absent (format, delivery.authorization_header); PATCH keeps their current values.
  modifyStream({ client, body }, merge) {
    const problems = [];
    checkDelivery(problems, body.delivery);
    checkEventsRequested(problems, body.events_requested);
    checkFormat(problems, body);
    if (has(body, 'stream_id') && typeof body.stream_id !== 'string') {
      problems.push({ field: 'stream_id', message: `${quote(body.stream_id)} must be a string` });
    }
    if (problems.length) throw validationFailed(problems);

    const stream = has(body, 'stream_id')
      ? this.ownedStream(client, body.stream_id)
      : this.callerStream(client);

    for (const field of ['iss', 'aud', 'events_supported', 'events_delivered', 'min_verification_interval']) {
      if (has(body, field) && !sameJson(body[field], stream[field])) {
        problems.push({
          field,
          message: `${quote(body[field])} does not match the value set by the transmitter`,
        });
      }
    }
    if (problems.length) throw validationFailed(problems);

    const delivery = pickDelivery(body.delivery);
    stream.delivery = merge ? { ...stream.delivery, ...delivery } : delivery;
    stream.events_requested = [...body.events_requested];
    stream.events_delivered = body.events_requested.filter((e) => EVENTS_SUPPORTED.includes(e));
    if (!merge || has(body, 'format')) stream.format = body.format;
    return { status: 200, body: this.render(stream) };
  }

  deleteStream({ client, query }) {
    const stream = query.has('stream_id')
      ? this.ownedStream(client, query.get('stream_id'))
      : this.callerStream(client);
    this.streams.delete(stream.stream_id);
    return { status: 204 };
  }

  getStatus({ client, query }) {
    const id = query.get('stream_id');
    if (!id) throw validationFailed([{ field: 'stream_id', message: 'is required' }]);
    const stream = this.ownedStream(client, id);
    return { status: 200, body: { stream_id: stream.stream_id, status: stream.status } };
  }

  verify({ client, body }) {
    const problems = [];
    if (!has(body, 'stream_id')) {
      problems.push({ field: 'stream_id', message: 'is required' });
    } else if (typeof body.stream_id !== 'string') {
      problems.push({ field: 'stream_id', message: `${quote(body.stream_id)} must be a string` });
    }
    if (has(body, 'state') && typeof body.state !== 'string') {
      problems.push({ field: 'state', message: `${quote(body.state)} must be a string` });
    }
    if (problems.length) throw validationFailed(problems);

    const stream = this.ownedStream(client, body.stream_id);
    const now = Date.now();
    const interval = stream.min_verification_interval;
    if (interval > 0 && stream.lastVerificationMs !== null
        && now - stream.lastVerificationMs < interval * 1000) {
      throw tooManyRequests();
    }
    stream.lastVerificationMs = now;

    // A disabled stream must not transmit (SSF §8.1.2); drop_deliveries simulates a lost SET.
    if (stream.status === 'enabled' && !this.config.drop_deliveries) {
      let state = body.state;
      if (this.config.wrong_state) state = `${state ?? ''}-wrong`;
      // Snapshot what the push needs: the stream may change or vanish before it runs.
      const target = structuredClone({ stream_id: stream.stream_id, aud: stream.aud, delivery: stream.delivery });
      setImmediate(() => this.pushVerification(target, state));
    }
    return { status: 204 };
  }

  async pushVerification(stream, state) {
    const generation = this.generation;
    const jti = randomBytes(16).toString('hex');
    const record = {
      time: new Date().toISOString(),
      stream_id: stream.stream_id,
      url: stream.delivery.endpoint_url,
      jti,
      state: state ?? null,
      status: null,
      error: null,
    };
    try {
      const set = await this.signer.sign({
        iss: this.baseUrl,
        aud: stream.aud,
        jti,
        iat: Math.floor(Date.now() / 1000),
        sub_id: { format: 'opaque', id: stream.stream_id },
        events: { [VERIFICATION_EVENT]: state === undefined ? {} : { state } },
      });
      const headers = {
        'Content-Type': 'application/secevent+jwt',
        Accept: 'application/json',
        'Content-Length': Buffer.byteLength(set),
      };
      const auth = stream.delivery.authorization_header;
      if (typeof auth === 'string') headers.Authorization = auth;
      record.set = set;
      Object.assign(record, await postSet(stream.delivery.endpoint_url, headers, set));
    } catch (e) {
      record.error = e.message;
    }
    if (generation !== this.generation) return;
    if (this.deliveries.length >= MAX_LOG_ENTRIES) this.deliveries.shift();
    this.deliveries.push(record);
  }

  // ------------------------------------------------------------ stream lookup

  streamOf(client) {
    for (const s of this.streams.values()) if (s.client_id === client.client_id) return s;
    return undefined;
  }

  // Another client's stream is reported exactly like an unknown one.
  ownedStream(client, streamId) {
    const s = this.streams.get(streamId);
    if (!s || s.client_id !== client.client_id) throw notFound(streamId);
    return s;
  }

  callerStream(client) {
    const s = this.streamOf(client);
    if (!s) throw notFound(`stream of client ${client.client_id}`);
    return s;
  }

  // The public view: no client_id/status bookkeeping and, like Okta, never the
  // receiver's authorization_header.
  render(s) {
    const out = {
      stream_id: s.stream_id,
      iss: s.iss,
      aud: structuredClone(s.aud),
      delivery: { method: s.delivery.method, endpoint_url: s.delivery.endpoint_url },
      events_requested: [...s.events_requested],
      events_supported: [...s.events_supported],
      events_delivered: [...s.events_delivered],
    };
    if (s.format !== undefined) out.format = s.format;
    out.min_verification_interval = s.min_verification_interval;
    return out;
  }
}
