// Interop peer for the token core: the npm package `jose` verifies tokens
// minted by libevpipe and mints tokens for libevpipe to verify.
//   node jose_interop.mjs verify KEYFILE TOKEN AUD ISS NOW   -> claims JSON, exit 0/1
//   node jose_interop.mjs sign KEYFILE KID SUB AUD ISS NOW   -> token
import { readFileSync } from 'node:fs';
import { SignJWT, jwtVerify, UnsecuredJWT } from 'jose';

function key(file) {
  let raw = readFileSync(file);
  let s = raw.toString('latin1');
  if (s.endsWith('\n')) s = s.slice(0, -1);
  if (s.startsWith('base64:')) return new Uint8Array(Buffer.from(s.slice(7), 'base64'));
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

const [mode, ...a] = process.argv.slice(2);
try {
  if (mode === 'verify') {
    const [file, token, aud, iss, now] = a;
    const { payload, protectedHeader } = await jwtVerify(token, key(file), {
      algorithms: ['HS256'], audience: aud, issuer: iss, typ: 'JWT',
      currentDate: new Date(Number(now) * 1000),
    });
    console.log(JSON.stringify({ header: protectedHeader, payload }));
  } else if (mode === 'sign') {
    const [file, kid, sub, aud, iss, now] = a;
    const iat = Number(now);
    const t = await new SignJWT({ scope: 'events:write', n: 7 })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid })
      .setSubject(sub).setAudience(aud).setIssuer(iss)
      .setIssuedAt(iat).setNotBefore(iat).setExpirationTime(iat + 1200).setJti('jose-' + iat)
      .sign(key(file));
    console.log(t);
  } else if (mode === 'unsecured') {
    const [sub, aud, now] = a;
    console.log(new UnsecuredJWT({ sub, aud, exp: Number(now) + 600 }).encode());
  } else {
    throw new Error('unknown mode ' + mode);
  }
} catch (e) {
  console.error(`${e.code || 'ERR'}: ${e.message}`);
  process.exit(1);
}
