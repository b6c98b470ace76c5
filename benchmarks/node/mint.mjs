// Mints the benchmark token with Auth.js' own encode: a signed-in user as Auth.js writes one,
// encrypted with the first of three rotated secrets. Usage: node mint.mjs <out.json>
import { writeFileSync } from "node:fs"
import { createRequire } from "node:module"
const require = createRequire(new URL("../../tests/authjs/package.json", import.meta.url))
const { encode } = await import(require.resolve("@auth/core/jwt"))

const secrets = ["bench-secret-newest-0123456789abcdef0123", "bench-secret-middle-0123456789abcdef0123", "bench-secret-oldest-0123456789abcdef0123"]
const salt = "authjs.session-token"
// With APP_CLAIMS set, the token also carries what an app's jwt callback copies in at sign-in.
const appClaims = process.env.APP_CLAIMS ? { auth_time: Math.floor(Date.now() / 1000), role: "member", orgs: ["acme", "globex"] } : {}
const token = await encode({
  token: { name: "Ada Lovelace", email: "ada@example.test", picture: "https://avatars.example.test/u/1815?v=4", sub: "user-1815", ...appClaims },
  secret: secrets,
  salt,
})
writeFileSync(process.argv[2], JSON.stringify({ token, secrets, salt }))

// With RENEWAL set, also a token issued two days ago (older than Auth.js' default updateAge of one
// day), which the session endpoint re-issues: Auth.js' key derivation and jose, as Auth.js encodes.
if (process.env.RENEWAL) {
  const { EncryptJWT, base64url, calculateJwkThumbprint } = await import(require.resolve("jose"))
  const { hkdf } = await import(require.resolve("@panva/hkdf"))
  const key = await hkdf("sha256", secrets[0], salt, `Auth.js Generated Encryption Key (${salt})`, 64)
  const kid = await calculateJwkThumbprint({ kty: "oct", k: base64url.encode(key) }, "sha512")
  const now = Math.floor(Date.now() / 1000)
  const issued = now - 2 * 86400
  const oldToken = await new EncryptJWT({ name: "Ada Lovelace", email: "ada@example.test", picture: "https://avatars.example.test/u/1815?v=4", sub: "user-1815", auth_time: issued })
    .setProtectedHeader({ alg: "dir", enc: "A256CBC-HS512", kid })
    .setIssuedAt(issued)
    .setExpirationTime(now + 30 * 86400)
    .setJti(crypto.randomUUID())
    .encrypt(key)
  writeFileSync(process.argv[2], JSON.stringify({ token, oldToken, secrets, salt }))
}
