// npm `jose` as an independent peer for ssflua's SET and JOSE specs: it makes the keys, the
// JWKS and the signed SETs that ssf.set.verify must judge, and checks signatures ssf.jose made.
//
//   node tests/fake/jose-peer.mjs < spec.json > result.json
//
// spec:
//   keys:   [{name, alg, kid?, jwk?, publish?}]  a key pair per entry. Its public JWK, as
//           {kid, use: "sig", alg} plus the members in `jwk` (a null member is left out, so
//           {use: null} makes a key without `use`), goes into the JWKS unless publish is false.
//   sets:   [{key, claims, header?}]             claims signed by key `key`; the protected header
//           is {alg, typ: "secevent+jwt", kid} with `header` merged over it (null removes).
//           key may also be "none" (an unsigned token, alg none) or "hmac:<name>" (HS256 with
//           the PEM text of that key's public half as the secret: the algorithm-confusion attack).
//   verify: [{jwk, alg, jws}]                     compact JWS to check against a public JWK.
// result: {jwks: {keys: [...]}, public: {name: jwk}, sets: [compact...], verified: [true|"reason"...]}
import { text } from 'node:stream/consumers';
import {
  SignJWT, compactVerify, exportJWK, exportSPKI, generateKeyPair, importJWK,
} from 'jose';

const spec = JSON.parse(await text(process.stdin));
const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

function merge(base, over = {}) {
  const out = { ...base, ...over };
  for (const [k, v] of Object.entries(out)) if (v === null) delete out[k];
  return out;
}

const keys = new Map();
const jwks = { keys: [] };
const publicJwks = {};
for (const k of spec.keys ?? []) {
  const pair = await generateKeyPair(k.alg, { extractable: true });
  keys.set(k.name, { ...k, ...pair });
  const pub = await exportJWK(pair.publicKey);
  publicJwks[k.name] = merge({ ...pub, kid: k.kid ?? k.name, use: 'sig', alg: k.alg }, k.jwk);
  if (k.publish !== false) jwks.keys.push(publicJwks[k.name]);
}

async function sign({ key: name, claims, header }) {
  if (name === 'none') {
    return `${b64(merge({ alg: 'none', typ: 'secevent+jwt' }, header))}.${b64(claims)}.`;
  }
  if (name.startsWith('hmac:')) {
    const k = keys.get(name.slice(5));
    const secret = new TextEncoder().encode(await exportSPKI(k.publicKey));
    return new SignJWT(claims)
      .setProtectedHeader(merge({ alg: 'HS256', typ: 'secevent+jwt', kid: k.kid ?? k.name }, header))
      .sign(secret);
  }
  const k = keys.get(name);
  if (!k) throw new Error(`no key named ${name}`);
  return new SignJWT(claims)
    .setProtectedHeader(merge({ alg: k.alg, typ: 'secevent+jwt', kid: k.kid ?? k.name }, header))
    .sign(k.privateKey);
}

async function verify({ jwk, alg, jws }) {
  try {
    await compactVerify(jws, await importJWK(jwk, alg), { algorithms: [alg] });
    return true;
  } catch (e) {
    return `${e.code ?? 'error'}: ${e.message}`;
  }
}

const sets = [];
for (const s of spec.sets ?? []) sets.push(await sign(s));
const verified = [];
for (const v of spec.verify ?? []) verified.push(await verify(v));
process.stdout.write(`${JSON.stringify({ jwks, public: publicJwks, sets, verified })}\n`);
