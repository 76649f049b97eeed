// Okta's Node SDK side of tests/bench/run.sh (cache disabled, so every call
// reaches the server); prints the seconds the work took.
//   node tests/peer/workloads.mjs lifecycle ORG TOKEN
//   node tests/peer/workloads.mjs gets ORG TOKEN N
//   node tests/peer/workloads.mjs fanout ORG TOKEN N P
// The SDK knows SSWS and PrivateKey modes only; the fake takes Bearer tokens,
// so the client is made in SSWS mode and its Authorization header replaced.
import okta from '@okta/okta-sdk-nodejs';

const [mode, orgUrl, token, nText, pText] = process.argv.slice(2);
const client = new okta.Client({ orgUrl, token, cacheMiddleware: null });
client.http.defaultHeaders.Authorization = `Bearer ${token}`;
const api = client.ssfTransmitterApi;
const n = Number(nText);
const t0 = performance.now();
if (mode === 'lifecycle') {
  const cfg = {
    delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://receiver.example.com/ssf' },
    events_requested: ['https://schemas.openid.net/secevent/caep/event-type/session-revoked'],
  };
  await api.getWellknownSsfMetadata();
  await api.getSsfStreams({});
  const s = await api.createSsfStream({ instance: cfg });
  await api.getSsfStreams({ streamId: s.stream_id });
  await api.getSsfStreamStatus({ streamId: s.stream_id });
  await api.updateSsfStream({ instance: { ...cfg, stream_id: s.stream_id } });
  await api.replaceSsfStream({ instance: { ...cfg, stream_id: s.stream_id } });
  await api.verifySsfStream({ instance: { stream_id: s.stream_id } });
  await api.deleteSsfStream({ streamId: s.stream_id });
} else if (mode === 'gets') {
  for (let i = 0; i < n; i++) await api.getSsfStreams({});
} else if (mode === 'fanout') {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      await api.getSsfStreams({});
    }
  };
  await Promise.all(Array.from({ length: Number(pText) }, worker));
} else {
  process.stderr.write('usage: workloads.mjs lifecycle|gets|fanout ORG TOKEN [N [P]]\n');
  process.exit(2);
}
process.stdout.write(`${((performance.now() - t0) / 1000).toFixed(6)}\n`);
