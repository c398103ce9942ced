// The peer for bench_jwt: node `jose` signing and verifying the same token
// shape (HS256, kid, iss, sub, aud, iat, nbf, exp, jti) on one thread.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '../tests/node/package.json'));
const { SignJWT, jwtVerify } = await import(require.resolve('jose'));

const secs = Number(process.argv[2] || 2);
const key = new TextEncoder().encode('bench-key-bench-key-bench-key-32');
const iat = 1700000000;
const sign = () => new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: 'v1' })
  .setIssuer('https://auth.example.com').setSubject('client-0001').setAudience('events')
  .setIssuedAt(iat).setNotBefore(iat).setExpirationTime(iat + 1200)
  .setJti(Math.random().toString(36)).sign(key);
const opts = { algorithms: ['HS256'], audience: 'events', issuer: 'https://auth.example.com',
  currentDate: new Date(iat * 1000) };

async function rate(fn) {
  let n = 0; const t0 = performance.now(); let el;
  do { for (let i = 0; i < 200; i++) await fn(); n += 200; } while ((el = (performance.now() - t0) / 1000) < secs);
  return n / el;
}
let tok = await sign();
console.log(`sign ${(await rate(async () => { tok = await sign(); })).toFixed(0)} ops/s`);
console.log(`verify ${(await rate(() => jwtVerify(tok, key, opts))).toFixed(0)} ops/s`);
