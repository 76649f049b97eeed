// The two other ends of SET verification, for ssflua's specs, on an ephemeral loopback port:
//
//   node tests/fake/set-stub.mjs JWKS_FILE
//
// Prints `listening http://127.0.0.1:PORT` once ready.
//   GET  /jwks      JWKS_FILE as application/json, read on every request, so a spec rotates
//                   keys by rewriting the file
//   GET  /not-json  200 with a body that is not JSON
//   POST /events    a SET push (RFC 8935): answered 202
//   GET  /count     {"jwks": <GET /jwks so far>, "events": <POST /events so far>}
// Anything else is 404.
import http from 'node:http';
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node set-stub.mjs JWKS_FILE\n');
  process.exit(2);
}
const count = { jwks: 0, events: 0 };

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'Content-Type': type });
  res.end(body);
}

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    // The query is ignored, so each spec can give its own URL (and so its own JWKS cache entry).
    const route = `${req.method} ${new URL(req.url, 'http://stub').pathname}`;
    if (route === 'GET /jwks') {
      count.jwks++;
      send(res, 200, readFileSync(file));
    } else if (route === 'GET /not-json') {
      send(res, 200, 'keys, but not JSON', 'text/plain');
    } else if (route === 'POST /events') {
      count.events++;
      res.writeHead(202);
      res.end();
    } else if (route === 'GET /count') {
      send(res, 200, JSON.stringify(count));
    } else {
      send(res, 404, '{"error":"not found"}');
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
