// Differential peer: Okta's official Node SDK (@okta/okta-sdk-nodejs, pinned in
// package.json) performs SSF stream operations through its own SSFTransmitterApi in
// authorizationMode "PrivateKey", so its token requests, assertions and DPoP proofs can be
// read back from the fake (GET /__fake/token_requests) and compared with ssflua's. It
// shares no code with ssflua or with the fake.
//
//   npm ci --prefix tests/peer
//   node tests/peer/okta-sdk-peer.mjs --org URL --client-id ID --key-file KEY.pem \
//        [--key-id KID] [--scopes "ssf.read ssf.manage"] [--ops list,create,...]
//        [--receiver URL]
//
// Each option falls back to the environment, with the names ssflua reads (API.md
// "Configuration"): OKTA_CLIENT_ORGURL, OKTA_CLIENT_CLIENTID, OKTA_CLIENT_PRIVATEKEY (PEM
// text or a file path), OKTA_CLIENT_PRIVATEKEYID or OKTA_CLIENT_KEYID, OKTA_CLIENT_SCOPES
// (comma or space separated).
//
// The SDK has no DPoP switch: it always sends a DPoP proof (RS256, signed with the client's
// own key) on the token request and switches to DPoP for good once the token endpoint
// answers use_dpop_nonce, retrying with the DPoP-Nonce it was given. So a client that the
// fake registers with dpop "off" shows the SDK's Bearer path, "optional" or "required" its
// DPoP path. The summary's token_type and sdk_is_dpop say which one ran.
//
// What 8.1.0 does that ssflua need not copy, seen against the fake: an EC private key fails
// before any request ("unsupported algorithm": the DPoP proof is always RS256); a token
// endpoint error is not thrown but kept as the "token", so API calls then carry
// "Authorization: Bearer undefined"; a resource server's use_dpop_nonce is not answered
// (the SDK only fetches a new token and retries once).
//
// Prints one JSON object on stdout: what was configured, then each operation with its
// result or error. Never prints the access token or the key. Exit status: 0 when every
// operation succeeded, 1 when one failed, 2 for a usage error.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import okta from '@okta/okta-sdk-nodejs';

const require = createRequire(import.meta.url);
const SDK_VERSION = require('@okta/okta-sdk-nodejs/package.json').version;

const ALL_OPS = ['metadata', 'list', 'create', 'get', 'status', 'update', 'replace', 'verify', 'delete', 'list'];
const REQUEST_TIMEOUT_MS = 20000; // per HTTP request, enforced by the SDK's executor
const RUN_TIMEOUT_MS = 120000; // the whole run, in case the SDK waits on something else
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const CREDENTIAL_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/credential-change';

function usage(message) {
  process.stderr.write(`okta-sdk-peer: ${message}\n`
    + 'usage: node okta-sdk-peer.mjs --org URL --client-id ID --key-file KEY.pem [--key-id KID]\n'
    + '       [--scopes "ssf.read ssf.manage"] [--ops a,b,...] [--receiver URL]\n'
    + `       ops: ${[...new Set(ALL_OPS)].join(', ')} (default: ${ALL_OPS.join(',')})\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const env = process.env;
  const opts = {
    org: env.OKTA_CLIENT_ORGURL,
    clientId: env.OKTA_CLIENT_CLIENTID,
    key: env.OKTA_CLIENT_PRIVATEKEY,
    keyId: env.OKTA_CLIENT_PRIVATEKEYID ?? env.OKTA_CLIENT_KEYID,
    scopes: env.OKTA_CLIENT_SCOPES ?? 'ssf.read ssf.manage',
    ops: ALL_OPS,
    receiver: 'http://127.0.0.1:9/ssf/events',
  };
  const valued = {
    '--org': 'org', '--client-id': 'clientId', '--key-file': 'key', '--key-id': 'keyId', '--scopes': 'scopes',
    '--receiver': 'receiver',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--ops' || valued[flag]) {
      const value = argv[++i];
      if (value === undefined) usage(`missing value for ${flag}`);
      if (flag === '--ops') {
        opts.ops = value.split(',').filter(Boolean);
        const unknown = opts.ops.filter((op) => !ALL_OPS.includes(op));
        if (unknown.length || !opts.ops.length) usage(`unknown ops: ${unknown.join(', ') || '(none)'}`);
      } else {
        opts[valued[flag]] = value;
      }
    } else {
      usage(`unknown option: ${flag}`);
    }
  }
  if (!opts.org) usage('no org URL (--org or OKTA_CLIENT_ORGURL)');
  if (!opts.clientId) usage('no client id (--client-id or OKTA_CLIENT_CLIENTID)');
  if (!opts.key) usage('no private key (--key-file or OKTA_CLIENT_PRIVATEKEY)');
  try {
    opts.pem = opts.key.includes('-----BEGIN') ? opts.key : readFileSync(opts.key, 'utf8');
  } catch (e) {
    usage(`cannot read the key file: ${e.message}`);
  }
  opts.scopes = opts.scopes.split(/[\s,]+/).filter(Boolean);
  if (!opts.scopes.length) usage('no scopes');
  return opts;
}

// The SDK throws OktaApiError (Okta error bodies), HttpError (other bodies), ApiException
// (from the generated response processors) or plain Errors; keep what tells them apart.
function describeError(e) {
  const out = { name: e?.name ?? e?.constructor?.name ?? typeof e, message: String(e?.message ?? e).slice(0, 500) };
  const status = e?.status ?? (typeof e?.code === 'number' ? e.code : undefined);
  if (status !== undefined) out.status = status;
  if (typeof e?.code === 'string') out.code = e.code; // e.g. ECONNREFUSED
  if (e?.errorCode !== undefined) out.errorCode = e.errorCode;
  const headers = e?.headers;
  const header = (name) => (typeof headers?.get === 'function' ? headers.get(name) : headers?.[name]);
  if (header('www-authenticate')) out.www_authenticate = header('www-authenticate');
  if (header('dpop-nonce')) out.dpop_nonce_offered = true;
  return out;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const client = new okta.Client({
    orgUrl: opts.org,
    authorizationMode: 'PrivateKey',
    clientId: opts.clientId,
    scopes: opts.scopes.join(' '),
    privateKey: opts.pem,
    keyId: opts.keyId,
    // Every call must reach the server: the SDK would otherwise answer repeated GETs from
    // its cache, and the comparison is about what goes over the wire.
    cacheMiddleware: null,
    requestExecutor: new okta.DefaultRequestExecutor({ requestTimeout: REQUEST_TIMEOUT_MS, maxRetries: 2 }),
  });

  const api = client.ssfTransmitterApi;
  const summary = {
    sdk: `@okta/okta-sdk-nodejs@${SDK_VERSION}`,
    node: process.version,
    org: opts.org,
    client_id: opts.clientId,
    key_id: opts.keyId ?? null,
    scopes: opts.scopes,
    sdk_api: api ? 'client.ssfTransmitterApi' : null,
    operations: [],
  };
  let streamId;
  const streamBody = (endpoint) => ({
    delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: endpoint },
    events_requested: [SESSION_REVOKED, CREDENTIAL_CHANGE],
    format: 'iss_sub',
  });
  const run = {
    metadata: () => api.getWellknownSsfMetadata(),
    list: () => api.getSsfStreams({}),
    create: async () => {
      const s = await api.createSsfStream({ instance: streamBody(opts.receiver) });
      streamId = s.stream_id;
      return s;
    },
    get: () => api.getSsfStreams({ streamId }),
    status: () => api.getSsfStreamStatus({ streamId }),
    update: () => api.updateSsfStream({ instance: { stream_id: streamId, ...streamBody(`${opts.receiver}/v2`) } }),
    replace: () => api.replaceSsfStream({ instance: { stream_id: streamId, ...streamBody(`${opts.receiver}/v3`) } }),
    verify: () => api.verifySsfStream({ instance: { stream_id: streamId, state: 'okta-sdk-peer' } }),
    delete: () => api.deleteSsfStream({ streamId }),
  };
  for (const op of opts.ops) {
    const record = { op };
    const started = Date.now();
    try {
      if (!api) throw new Error('this SDK version has no ssfTransmitterApi');
      const result = await run[op]();
      record.ok = true;
      if (result !== undefined) record.result = JSON.parse(JSON.stringify(result));
    } catch (e) {
      record.ok = false;
      record.error = describeError(e);
    }
    record.ms = Date.now() - started;
    summary.operations.push(record);
  }
  // The SDK keeps whatever JSON the token endpoint answered, an OAuth error body included.
  const token = client.oauth.accessToken;
  if (!token) summary.token = null;
  else if (token.error) summary.token = { error: token.error, error_description: token.error_description };
  else summary.token = { token_type: token.token_type, expires_in: token.expires_in, scope: token.scope };
  summary.sdk_is_dpop = client.oauth.isDPoP;
  summary.ok = summary.operations.every((o) => o.ok);
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.exitCode = summary.ok ? 0 : 1;
}

setTimeout(() => {
  process.stderr.write(`okta-sdk-peer: gave up after ${RUN_TIMEOUT_MS} ms\n`);
  process.exit(1);
}, RUN_TIMEOUT_MS).unref();
try {
  await main();
} catch (e) {
  // Configuration the SDK refuses (e.g. an unreadable key) ends up here.
  process.stderr.write(`okta-sdk-peer: ${e?.message ?? e}\n`);
  process.exit(1);
}
