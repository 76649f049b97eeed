// Fake Okta SSF transmitter and org authorization server for ssflua's tests.
//
//   node tests/fake/server.mjs [--port N] [--host 127.0.0.1]
//
// Prints `listening http://HOST:PORT` once it accepts connections and runs until SIGTERM/SIGINT.
// The SSF API (Okta's, as in tests/openapi/okta-ssf-openapi.yaml) is in ssf.mjs; the token endpoint
// (POST /oauth2/v1/token) and the check of issued tokens are in oauth.mjs, DPoP proofs in
// dpop.mjs. This file holds the HTTP plumbing every Okta response shares (request ids, rate
// limits, body rules), the scripted faults, and the unauthenticated control API under /__fake/:
//   POST /__fake/reset       drop streams, logs, faults, extra tokens, clients, issued tokens,
//                            config, rate counters; new DPoP nonces
//   GET  /__fake/requests    every non-control request seen, with the status answered and
//                            `dpop` (whether a DPoP header came with it)
//   GET  /__fake/deliveries  every verification SET push attempted
//   GET  /__fake/streams     stored streams including client_id, status and authorization_header
//   POST /__fake/tokens      {token, client_id, scopes:[...]}  a fixed Bearer token
//   POST /__fake/config      {rate_limit, min_verification_interval, drop_deliveries, wrong_state,
//                            latency_ms (added before every API answer, for concurrency tests)}
//   GET  /__fake/in_flight   {now, peak}: API requests being answered, and the most at once
//                            since the last reset
//   POST /__fake/status      {stream_id, status: "enabled"|"disabled"}
//   POST /__fake/faults      {faults:[{match?:{method?,path?}, status?, headers?, body?,
//                                       delay_ms?, action?: "reset"|"truncate"|"hang"}]}
//   POST /__fake/clients     register (or replace) an OAuth client:
//                            {client_id, scopes:[allowed...], jwks?: {keys:[public JWKs]},
//                             client_secret?, token_ttl?: seconds (1..86400, default 3600),
//                             dpop?: "off"|"optional"|"required" (default "off"),
//                             resource_nonce?: bool (SSF calls need a DPoP nonce too),
//                             refresh_token?: string (accepted once by the refresh_token grant)}
//                            jwks keys: RSA (RS256) or EC P-256 (ES256); a client needs jwks or
//                            client_secret. Answers the client without its secrets.
//   GET  /__fake/token_requests  every token request: {time, grant_type, client_assertion_type,
//                            scope, client_auth: "private_key_jwt"|"client_secret_basic"|
//                            "client_secret_post"|"none", client_id, dpop (DPoP header sent),
//                            assertion: {header, claims} | null, dpop_proof: {header, claims} |
//                            null (both decoded, unverified), status, error, error_description,
//                            token_type}
//   POST /__fake/rotate_nonces  new DPoP nonces for the token endpoint and the SSF endpoints,
//                            so a test can make a client's cached nonce stale; answers
//                            {authorization_server, resource_server}
// The fixed tokens tok-rw, tok-ro, tok-rw-b and tok-none (ssf.mjs) always work as Bearer tokens.
// Set FAKE_VERBOSE=1 for one line per request on stderr.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { AuthServer, TOKEN_PATH, parseAuthorization, parseClient } from './oauth.mjs';
import { ROUTES, Transmitter, createSigner } from './ssf.mjs';
import {
  OktaError, errorBody, internalError, malformedBody, methodNotAllowed, notFound, tooLarge, tooManyRequests,
} from './okta-errors.mjs';

const BODY_LIMIT = 64 * 1024;
const DEFAULT_RATE_LIMIT = 600;
const RATE_WINDOW_S = 60;
const MAX_LOG_ENTRIES = 10000;
const MAX_DELAY_MS = 600000;
const VERBOSE = process.env.FAKE_VERBOSE === '1';

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

function usage(message) {
  process.stderr.write(`${message}\nusage: node server.mjs [--port N] [--host 127.0.0.1]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { port: 0, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) usage(`missing value for ${flag}`);
    if (flag === '--port') {
      if (!/^\d+$/.test(value) || Number(value) > 65535) usage(`bad port: ${value}`);
      opts.port = Number(value);
    } else if (flag === '--host') {
      opts.host = value;
    } else {
      usage(`unknown option: ${flag}`);
    }
  }
  // The fake accepts any bearer token it knows and has an unauthenticated control API:
  // never expose it beyond loopback.
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(opts.host) && opts.host !== '::1') {
    usage(`refusing to bind to non-loopback host ${opts.host}`);
  }
  return opts;
}

// Fixed 60 s windows aligned to the epoch, one counter per client id (callers without a
// known token share the "anonymous" bucket), like Okta's per-minute org limits.
class RateLimiter {
  constructor() {
    this.reset();
  }

  reset() {
    this.limit = DEFAULT_RATE_LIMIT;
    this.windows = new Map(); // key -> {start, used}
  }

  take(key) {
    const start = Math.floor(Date.now() / 1000 / RATE_WINDOW_S) * RATE_WINDOW_S;
    let w = this.windows.get(key);
    if (!w || w.start !== start) {
      w = { start, used: 0 };
      this.windows.set(key, w);
    }
    w.used++;
    return {
      limit: this.limit,
      remaining: Math.max(0, this.limit - w.used),
      reset: start + RATE_WINDOW_S,
      exceeded: w.used > this.limit,
    };
  }
}

// ---------------------------------------------------------------- faults

const FAULT_KEYS = ['match', 'status', 'headers', 'body', 'delay_ms', 'action'];
const FAULT_ACTIONS = ['reset', 'truncate', 'hang'];

class ControlError extends Error {
  constructor(message, status = 400) {
    super(message);
    this.status = status;
  }
}

function checkFault(f, where) {
  const fail = (msg) => {
    throw new ControlError(`${where}: ${msg}`);
  };
  if (!isObject(f)) fail('must be an object');
  const unknown = Object.keys(f).filter((k) => !FAULT_KEYS.includes(k));
  if (unknown.length) fail(`unknown keys ${unknown.join(', ')}`);
  if (f.match !== undefined) {
    if (!isObject(f.match)) fail('match must be an object');
    for (const [k, v] of Object.entries(f.match)) {
      if (!['method', 'path'].includes(k) || typeof v !== 'string') fail('match takes string method and path');
    }
  }
  if (f.status !== undefined && !(Number.isInteger(f.status) && f.status >= 100 && f.status <= 599)) {
    fail('status must be an integer 100..599');
  }
  if (f.headers !== undefined
      && !(isObject(f.headers) && Object.values(f.headers).every((v) => ['string', 'number'].includes(typeof v)))) {
    fail('headers must map names to strings');
  }
  if (f.delay_ms !== undefined
      && !(Number.isInteger(f.delay_ms) && f.delay_ms >= 0 && f.delay_ms <= MAX_DELAY_MS)) {
    fail(`delay_ms must be an integer 0..${MAX_DELAY_MS}`);
  }
  if (f.action !== undefined && !FAULT_ACTIONS.includes(f.action)) {
    fail(`action must be one of ${FAULT_ACTIONS.join(', ')}`);
  }
  if (f.body !== undefined && f.status === undefined && f.action !== 'truncate') {
    fail('body needs status (or action "truncate")');
  }
}

function faultMatches(f, method, path) {
  return (!f.match?.method || f.match.method.toUpperCase() === method)
    && (!f.match?.path || f.match.path === path);
}

const serialize = (body) => (typeof body === 'string' ? body : JSON.stringify(body));

// ---------------------------------------------------------------- server state

const opts = parseArgs(process.argv.slice(2));
const signer = await createSigner();
const rateLimiter = new RateLimiter();
let transmitter; // created once the port, and so the issuer URL, is known
let authServer; // likewise
let faults = [];
let requestLog = [];
let requestCounter = 0;
let latencyMs = 0;
let inFlight = 0;
let peakInFlight = 0;

function resetAll() {
  transmitter.reset();
  authServer.reset();
  rateLimiter.reset();
  faults = [];
  requestLog = [];
  latencyMs = 0;
  peakInFlight = inFlight;
}

// ---------------------------------------------------------------- responses

// Headers set earlier on `res` (request id, rate limit) stay unless a fault overrides them;
// fault headers are applied last so a test can fake any header, Content-Type included.
function reply(ctx, status, body, headers = {}) {
  const { res } = ctx;
  if (res.headersSent || res.destroyed) return;
  let payload;
  if (body !== undefined) {
    payload = serialize(body);
    res.setHeader('Content-Type', typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json');
  }
  for (const [k, v] of Object.entries({ ...headers, ...ctx.faultHeaders })) res.setHeader(k, v);
  res.statusCode = status;
  res.end(payload);
}

const replyError = (ctx, err) => reply(ctx, err.status, errorBody(err), err.headers);

// Claims a longer body than it sends, then closes: the client sees a short read.
function replyTruncated(ctx, fault) {
  const full = Buffer.from(serialize(fault.body ?? { stream_id: 'escTRUNCATED000000000', status: 'enabled' }));
  const { res } = ctx;
  res.setHeader('Content-Type', 'application/json');
  for (const [k, v] of Object.entries(fault.headers ?? {})) res.setHeader(k, v);
  res.setHeader('Content-Length', full.length);
  res.writeHead(fault.status ?? 200);
  res.write(full.subarray(0, Math.floor(full.length / 2)), () => res.socket?.destroy());
}

// Resolves to {text} or {tooLarge: true}; never buffers more than BODY_LIMIT bytes.
function readBody(req) {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > BODY_LIMIT) {
      resolve({ tooLarge: true });
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        req.removeAllListeners('data');
        req.pause();
        resolve({ tooLarge: true });
      } else {
        chunks.push(chunk);
      }
    });
    req.on('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8') }));
    req.on('error', reject);
  });
}

// The URL the client called, as far as the server can tell (HTTP/1.1 requires Host): the
// client assertion's aud and DPoP's htu must name it, as Okta checks them against the URL
// it was reached at.
function requestUrl(req, pathname) {
  const host = req.headers.host;
  return /^[\w.-]+(:\d+)?$|^\[[\da-fA-F:.]+\](:\d+)?$/.test(host ?? '')
    ? `http://${host}${pathname}`
    : `${transmitter.baseUrl}${pathname}`;
}

function parseJsonBody(req, text) {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') throw malformedBody();
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformedBody();
  }
  if (!isObject(value)) throw malformedBody();
  return value;
}

// ---------------------------------------------------------------- the SSF API

async function handleApi(req, res, url) {
  const ctx = { res, faultHeaders: {} };
  const entry = {
    request_id: res.getHeader('X-Okta-Request-Id'),
    time: new Date().toISOString(),
    // Lets tests see whether the client reused its connection.
    remote_port: req.socket.remotePort,
    method: req.method,
    path: url.pathname,
    query: url.search.slice(1),
    headers: req.headers,
    body: '',
    dpop: req.headers.dpop !== undefined,
    status: null,
  };
  if (requestLog.length >= MAX_LOG_ENTRIES) requestLog.shift();
  requestLog.push(entry);
  inFlight++;
  peakInFlight = Math.max(peakInFlight, inFlight);
  res.on('close', () => {
    inFlight--;
    if (res.headersSent) entry.status = res.statusCode;
  });
  if (latencyMs) await new Promise((r) => setTimeout(r, latencyMs));

  const credential = parseAuthorization(req.headers.authorization);
  // Fixed test tokens are plain Bearer tokens; anything else must have been issued.
  const staticPrincipal = credential?.scheme === 'bearer' ? transmitter.lookupToken(credential.token) : undefined;
  const principal = staticPrincipal ?? (credential && authServer.lookupToken(credential.token));
  // The token endpoint has a bucket of its own, as at Okta, so fetching a token never
  // eats into the SSF calls a test budgets for.
  const rate = rateLimiter.take(url.pathname === TOKEN_PATH ? TOKEN_PATH : principal?.client_id ?? 'anonymous');
  res.setHeader('X-Rate-Limit-Limit', rate.limit);
  res.setHeader('X-Rate-Limit-Remaining', rate.remaining);
  res.setHeader('X-Rate-Limit-Reset', rate.reset);

  const body = await readBody(req);
  if (body.tooLarge) {
    // The rest of the upload is left unread, so this connection cannot be reused.
    res.setHeader('Connection', 'close');
    replyError(ctx, tooLarge(BODY_LIMIT));
    return;
  }
  entry.body = body.text;

  const index = faults.findIndex((f) => faultMatches(f, req.method, url.pathname));
  if (index >= 0) {
    const [fault] = faults.splice(index, 1);
    entry.fault = fault;
    if (fault.delay_ms) await new Promise((r) => setTimeout(r, fault.delay_ms));
    if (fault.action === 'reset') {
      if (!req.socket.destroyed) req.socket.resetAndDestroy(); // RST, not a clean FIN
      return;
    }
    if (fault.action === 'hang') return; // the socket stays open until the client gives up
    if (fault.action === 'truncate') {
      replyTruncated(ctx, fault);
      return;
    }
    ctx.faultHeaders = fault.headers ?? {};
    if (fault.status !== undefined) {
      reply(ctx, fault.status, fault.body);
      return;
    }
  }

  try {
    if (rate.exceeded) throw tooManyRequests();
    if (url.pathname === TOKEN_PATH) {
      if (req.method !== 'POST') throw methodNotAllowed(['POST']);
      const result = await authServer.token({
        contentType: req.headers['content-type'],
        body: body.text,
        authorization: req.headers.authorization,
        proof: req.headers.dpop,
        tokenUrl: requestUrl(req, TOKEN_PATH),
      });
      reply(ctx, result.status, result.body, result.headers);
      return;
    }
    const routes = ROUTES[url.pathname];
    if (!routes) throw notFound(url.pathname, 'Resource');
    const route = routes[req.method];
    if (!route) throw methodNotAllowed(Object.keys(routes));
    const client = route.scope
      ? await authServer.authorizeResource({
        scope: route.scope,
        credential,
        staticPrincipal,
        proof: req.headers.dpop,
        method: req.method,
        url: requestUrl(req, url.pathname),
        path: url.pathname,
      })
      : null;
    const json = route.body ? parseJsonBody(req, body.text) : {};
    const result = transmitter[route.op]({ client, query: url.searchParams, body: json });
    reply(ctx, result.status, result.body);
  } catch (e) {
    if (!(e instanceof OktaError)) {
      process.stderr.write(`fake: internal error on ${req.method} ${req.url}: ${e.stack}\n`);
    }
    replyError(ctx, e instanceof OktaError ? e : internalError());
  }
}

// ---------------------------------------------------------------- the control API

function checkKeys(body, allowed) {
  const unknown = Object.keys(body).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new ControlError(`unknown keys: ${unknown.join(', ')}`);
}

const CONTROL = {
  'POST /__fake/reset': () => {
    resetAll();
    return { ok: true };
  },
  'GET /__fake/requests': () => requestLog,
  'GET /__fake/deliveries': () => transmitter.deliveries,
  'GET /__fake/in_flight': () => ({ now: inFlight, peak: peakInFlight }),
  'GET /__fake/streams': () => transmitter.dumpStreams(),
  'GET /__fake/token_requests': () => authServer.tokenLog,
  'POST /__fake/clients': async (body) => {
    const { client, problem } = await parseClient(body);
    if (problem) throw new ControlError(problem);
    return authServer.register(client);
  },
  'POST /__fake/rotate_nonces': () => authServer.rotateNonces(),
  'POST /__fake/tokens': (body) => {
    checkKeys(body, ['token', 'client_id', 'scopes']);
    const { token, client_id: clientId, scopes } = body;
    if (typeof token !== 'string' || !/^\S+$/.test(token)) throw new ControlError('token must be a non-empty string without spaces');
    if (typeof clientId !== 'string' || !clientId) throw new ControlError('client_id must be a non-empty string');
    if (!Array.isArray(scopes) || !scopes.every((s) => typeof s === 'string')) {
      throw new ControlError('scopes must be an array of strings');
    }
    transmitter.addToken(token, clientId, scopes);
    return { token, client_id: clientId, scopes };
  },
  'POST /__fake/config': (body) => {
    checkKeys(body, ['rate_limit', 'min_verification_interval', 'drop_deliveries', 'wrong_state', 'latency_ms']);
    if (body.latency_ms !== undefined) {
      if (!(Number.isInteger(body.latency_ms) && body.latency_ms >= 0 && body.latency_ms <= MAX_DELAY_MS)) {
        throw new ControlError(`latency_ms must be an integer from 0 to ${MAX_DELAY_MS}`);
      }
      latencyMs = body.latency_ms;
    }
    const { rate_limit: limit, min_verification_interval: interval } = body;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw new ControlError('rate_limit must be an integer >= 0');
    }
    if (interval !== undefined && interval !== null && !(Number.isInteger(interval) && interval >= 0)) {
      throw new ControlError('min_verification_interval must be an integer >= 0 or null');
    }
    for (const flag of ['drop_deliveries', 'wrong_state']) {
      if (body[flag] !== undefined && typeof body[flag] !== 'boolean') {
        throw new ControlError(`${flag} must be a boolean`);
      }
    }
    if (limit !== undefined) rateLimiter.limit = limit;
    if (interval !== undefined) transmitter.setMinVerificationInterval(interval);
    for (const flag of ['drop_deliveries', 'wrong_state']) {
      if (body[flag] !== undefined) transmitter.config[flag] = body[flag];
    }
    const current = transmitter.config.min_verification_interval;
    return {
      rate_limit: rateLimiter.limit,
      latency_ms: latencyMs,
      ...transmitter.config,
      min_verification_interval: current === undefined ? 'per-client default' : current,
    };
  },
  'POST /__fake/status': (body) => {
    checkKeys(body, ['stream_id', 'status']);
    if (!['enabled', 'disabled'].includes(body.status)) throw new ControlError('status must be enabled or disabled');
    if (!transmitter.setStatus(body.stream_id, body.status)) throw new ControlError('unknown stream_id', 404);
    return { stream_id: body.stream_id, status: body.status };
  },
  'POST /__fake/faults': (body) => {
    checkKeys(body, ['faults']);
    if (!Array.isArray(body.faults)) throw new ControlError('faults must be an array');
    body.faults.forEach((f, i) => checkFault(f, `faults[${i}]`));
    faults.push(...body.faults);
    return { queued: faults.length };
  },
};

async function handleControl(req, res, url) {
  const ctx = { res, faultHeaders: {} };
  const op = CONTROL[`${req.method} ${url.pathname}`];
  const body = await readBody(req);
  try {
    if (!op) throw new ControlError(`no control endpoint ${req.method} ${url.pathname}`, 404);
    if (body.tooLarge) throw new ControlError('body too large', 413);
    let json = {};
    if (req.method === 'POST' && body.text.trim() !== '') {
      try {
        json = JSON.parse(body.text);
      } catch {
        throw new ControlError('body is not valid JSON');
      }
      if (!isObject(json)) throw new ControlError('body must be a JSON object');
    }
    reply(ctx, 200, await op(json));
  } catch (e) {
    if (!(e instanceof ControlError)) throw e;
    if (body.tooLarge) res.setHeader('Connection', 'close');
    reply(ctx, e.status, { error: e.message });
  }
}

// ---------------------------------------------------------------- wiring

async function handle(req, res) {
  const started = Date.now();
  const id = `fake-${++requestCounter}-${randomBytes(4).toString('hex')}`;
  res.setHeader('X-Okta-Request-Id', id);
  if (VERBOSE) {
    res.on('close', () => {
      const status = res.headersSent ? res.statusCode : 'no-response';
      process.stderr.write(`${new Date().toISOString()} ${id} ${req.method} ${req.url} -> ${status} ${Date.now() - started}ms\n`);
    });
  }
  // Parse against a dummy origin so an odd request-target (`//x`, `*`) never changes the host.
  const url = new URL(req.url.startsWith('/') ? `http://fake${req.url}` : 'http://fake/');
  try {
    if (url.pathname.startsWith('/__fake/')) {
      await handleControl(req, res, url);
    } else {
      await handleApi(req, res, url);
    }
  } catch (e) {
    process.stderr.write(`fake: internal error on ${req.method} ${req.url}: ${e.stack}\n`);
    reply({ res, faultHeaders: {} }, 500, errorBody(internalError()));
  }
}

const server = http.createServer(handle);
server.on('error', (e) => {
  process.stderr.write(`fake: ${e.message}\n`);
  process.exit(1);
});
server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const baseUrl = `http://${host}:${port}`;
  transmitter = new Transmitter(baseUrl, signer);
  authServer = new AuthServer(baseUrl);
  process.stdout.write(`listening ${baseUrl}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections(); // includes sockets held open by "hang" faults
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
