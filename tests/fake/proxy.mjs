// A minimal forward HTTP proxy for the proxy specs: it forwards absolute-form
// requests (http only) and records each one; GET /__proxy/log returns them.
//   node tests/fake/proxy.mjs      prints `listening http://127.0.0.1:PORT`
import http from 'node:http';

const MAX_LOG = 1000;
const log = [];

const server = http.createServer((req, res) => {
  if (req.url === '/__proxy/log') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(log));
    return;
  }
  let target;
  try {
    target = new URL(req.url);
  } catch {
    res.statusCode = 400;
    res.end('proxy: absolute-form request expected\n');
    return;
  }
  if (log.length >= MAX_LOG) log.shift();
  log.push({ method: req.method, url: req.url });
  const upstream = http.request(target, { method: req.method, headers: req.headers }, (up) => {
    res.writeHead(up.statusCode, up.headers);
    up.pipe(res);
  });
  upstream.setTimeout(10000, () => upstream.destroy());
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(upstream);
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
