// A plain Node.js RFC 8935 receiver for tests/bench/receiver_vs_node.lua:
// node:http and npm jose's jwtVerify against a local JWKS, with the same
// checks and answers as ssf.receiver (path, method, Authorization,
// Content-Type, size, signature, typ, iss, aud, iat, no exp, jti, one
// event; jti dedup; 202 or 400 {err, description}). Uses the jose that
// tests/fake installs (npm ci in tests/fake).
//   node tests/bench/node_receiver.mjs verify JWKS_FILE ISS AUD
//   node tests/bench/node_receiver.mjs accept      (202 to every POST, no checks)
// Prints "listening URL"; on SIGINT prints "maxrss <KiB> cpu <seconds>"
// (user and system CPU since it started listening, all threads) and exits.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from '../fake/node_modules/jose/dist/node/esm/index.js';

const [mode, jwksFile, issuer, audience] = process.argv.slice(2);
const AUTH = 'Bearer bench';
const MAX_BODY = 65536;
const JTI_GENERATION = 4096;
const jwks = mode === 'verify' ? createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8'))) : null;

let jtis = new Set();
let oldJtis = new Set();
function seen(jti) {
  return jtis.has(jti) || oldJtis.has(jti);
}
function remember(jti) {
  if (jtis.size >= JTI_GENERATION) {
    oldJtis = jtis;
    jtis = new Set();
  }
  jtis.add(jti);
}

function answer(res, status, err, description) {
  if (!err) return res.writeHead(status).end();
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ err, description }));
}

async function verify(jwt) {
  const { payload } = await jwtVerify(jwt, jwks, {
    issuer, audience, typ: 'secevent+jwt', algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'ES256'],
    maxTokenAge: '300s', clockTolerance: 60,
  });
  if (payload.exp !== undefined) throw Object.assign(new Error('the SET has exp'), { err: 'invalid_request' });
  if (typeof payload.jti !== 'string' || payload.jti === '') throw Object.assign(new Error('no jti'), { err: 'invalid_request' });
  const events = payload.events;
  if (!events || typeof events !== 'object' || Object.keys(events).length !== 1) {
    throw Object.assign(new Error('events must hold one event'), { err: 'invalid_request' });
  }
  return payload;
}

const server = http.createServer((req, res) => {
  if (req.url !== '/ssf/events') return answer(res, 404, 'invalid_request', 'no SET receiver at this path');
  if (req.method !== 'POST') return answer(res, 405, 'invalid_request', 'SETs are delivered with POST');
  if (mode === 'verify' && req.headers.authorization !== AUTH) {
    return answer(res, 401, 'authentication_failed', 'missing or wrong Authorization header');
  }
  const type = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  if (mode === 'verify' && type !== 'application/secevent+jwt') {
    return answer(res, 400, 'invalid_request', 'Content-Type must be application/secevent+jwt');
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) {
      answer(res, 413, 'invalid_request', 'too large');
      req.destroy();
    } else {
      chunks.push(c);
    }
  });
  req.on('end', async () => {
    if (mode !== 'verify') return answer(res, 202);
    try {
      const payload = await verify(Buffer.concat(chunks).toString('latin1'));
      if (!seen(payload.jti)) remember(payload.jti);
      answer(res, 202);
    } catch (e) {
      const err = e.err || (e.code && e.code.startsWith('ERR_JWS') ? 'invalid_key'
        : e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && e.claim === 'iss' ? 'invalid_issuer'
        : e.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && e.claim === 'aud' ? 'invalid_audience'
        : 'invalid_request');
      answer(res, 400, err, String(e.message).slice(0, 200));
    }
  });
});
server.keepAliveTimeout = 30000;
let cpuAtStart;
server.listen(0, '127.0.0.1', () => {
  cpuAtStart = process.cpuUsage();
  console.log(`listening http://127.0.0.1:${server.address().port}/ssf/events`);
});
process.on('SIGINT', () => {
  const hwm = readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\s+(\d+)/);
  const cpu = process.cpuUsage(cpuAtStart);
  console.log(`maxrss ${hwm ? hwm[1] : '?'} cpu ${((cpu.user + cpu.system) / 1e6).toFixed(2)}`);
  process.exit(0);
});
