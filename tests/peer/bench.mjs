// Per-request cost of Okta's Node SDK in PrivateKey mode (DPoP when the
// server asks for it), for tests/bench/dpop.lua: N list calls, one client.
//   node tests/peer/bench.mjs ORG CLIENT_ID KEY_FILE KEY_ID N
// Prints one JSON line: {n, ms_per_request, first_call_ms}.
import { readFileSync } from 'node:fs';
import okta from '@okta/okta-sdk-nodejs';

const [org, clientId, keyFile, keyId, nText] = process.argv.slice(2);
const n = Number(nText);
if (!org || !clientId || !keyFile || !keyId || !(n > 0)) {
  process.stderr.write('usage: node bench.mjs ORG CLIENT_ID KEY_FILE KEY_ID N\n');
  process.exit(2);
}
const client = new okta.Client({
  orgUrl: org,
  authorizationMode: 'PrivateKey',
  clientId,
  scopes: 'ssf.read ssf.manage',
  privateKey: readFileSync(keyFile, 'utf8'),
  keyId,
  cacheMiddleware: null, // every call must reach the server
});
const api = client.ssfTransmitterApi;
let t = performance.now();
await api.getSsfStreams({}); // includes the token request
const first = performance.now() - t;
t = performance.now();
for (let i = 0; i < n; i++) await api.getSsfStreams({});
const each = (performance.now() - t) / n;
process.stdout.write(`${JSON.stringify({ n, ms_per_request: each, first_call_ms: first })}\n`);
