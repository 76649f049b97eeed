// A DNS server for nginx's `resolver` in tests: every A question is
// answered 127.0.0.1 (anything else: no records), so that a test can use
// a host name such as "localhost" (which the test CA's certificate names)
// where nginx resolves at run time.
//   node tests/support/dns.mjs   -> prints `listening PORT` (UDP, 127.0.0.1)
import dgram from 'node:dgram';

const sock = dgram.createSocket('udp4');
sock.on('message', (msg, peer) => {
  if (msg.length < 17) return;
  // The question: labels up to a zero byte, then type and class.
  let i = 12;
  while (i < msg.length && msg[i] !== 0) i += msg[i] + 1;
  if (i + 5 > msg.length) return;
  const qtype = msg.readUInt16BE(i + 1);
  const question = msg.subarray(12, i + 5);
  const header = Buffer.alloc(12);
  msg.copy(header, 0, 0, 2); // the id
  header.writeUInt16BE(0x8180, 2); // a response, recursion available, no error
  header.writeUInt16BE(1, 4);
  const answers = qtype === 1 ? 1 : 0;
  header.writeUInt16BE(answers, 6);
  const parts = [header, question];
  if (answers) {
    parts.push(Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]));
  }
  sock.send(Buffer.concat(parts), peer.port, peer.address);
});
sock.bind(0, '127.0.0.1', () => {
  console.log(`listening ${sock.address().port}`);
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
