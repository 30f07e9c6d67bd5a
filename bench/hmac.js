'use strict';
// CPU per HMAC-SHA-256 for three ways of making one, in a hot loop (src/core/hmac.ts says why the
// choice rests on profiles of the service under load rather than on this):
//   npm run build && node bench/hmac.js
// A 36-byte refresh-token payload and a 300-byte access-token signing input, 100,000 MACs each, three
// rounds; every way's MAC is checked against createHmac's first.
const { createHash, createHmac, createSecretKey, randomBytes } = require('node:crypto');
const { HmacSha256 } = require('../dist/core/hmac');

const raw = randomBytes(32);
const key = createSecretKey(raw);
const ours = new HmacSha256(Buffer.from(raw));
// The way before: the key's inner and outer hash states computed once, copied for every MAC.
const pad = (byte) => Buffer.from(Buffer.alloc(64, byte).map((b, i) => (i < raw.length ? b ^ raw[i] : b)));
const innerState = createHash('sha256').update(pad(0x36));
const outerState = createHash('sha256').update(pad(0x5c));

const ways = {
  'createHmac (KeyObject)': (m) => createHmac('sha256', key).update(m).digest(),
  'copied hash states': (m) => outerState.copy().update(innerState.copy().update(m).digest()).digest(),
  'HmacSha256 (one-shot hashes)': (m) => ours.digest(m),
};
const messages = { 'payload 36 B': randomBytes(36), 'signing input 300 B': `eyJhbGciOiJIUzI1NiJ9.${'x'.repeat(279)}` };
const N = 100_000;
for (const m of Object.values(messages)) {
  const expected = createHmac('sha256', key).update(m).digest('hex');
  for (const [way, f] of Object.entries(ways)) if (f(m).toString('hex') !== expected) throw new Error(`${way} gives another MAC`);
}
for (let round = 1; round <= 3; round++) {
  for (const [name, m] of Object.entries(messages)) {
    for (const [way, f] of Object.entries(ways)) {
      const start = process.cpuUsage();
      for (let i = 0; i < N; i++) f(m);
      const used = process.cpuUsage(start);
      console.log(`round ${round}  ${name.padEnd(20)} ${way.padEnd(30)} ${((used.user + used.system) / N).toFixed(2)} µs`);
    }
  }
}
