// Mints the benchmark token with Auth.js' own encode: a signed-in user as Auth.js writes one,
// encrypted with the first of three rotated secrets. Usage: node mint.mjs <out.json>
import { writeFileSync } from "node:fs"
import { createRequire } from "node:module"
const require = createRequire(new URL("../../tests/authjs/package.json", import.meta.url))
const { encode } = await import(require.resolve("@auth/core/jwt"))

const secrets = ["bench-secret-newest-0123456789abcdef0123", "bench-secret-middle-0123456789abcdef0123", "bench-secret-oldest-0123456789abcdef0123"]
const salt = "authjs.session-token"
const token = await encode({
  token: { name: "Ada Lovelace", email: "ada@example.test", picture: "https://avatars.example.test/u/1815?v=4", sub: "user-1815" },
  secret: secrets,
  salt,
})
writeFileSync(process.argv[2], JSON.stringify({ token, secrets, salt }))
