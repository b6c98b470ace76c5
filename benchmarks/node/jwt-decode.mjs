// Auth.js' own decode on the same token and secrets as the .NET benchmark, per call, as a
// median over rounds. Usage: node jwt-decode.mjs <tokens.json>
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
const require = createRequire(new URL("../../tests/authjs/package.json", import.meta.url))
const { decode } = await import(require.resolve("@auth/core/jwt"))

const { token, secrets, salt } = JSON.parse(readFileSync(process.argv[2], "utf8"))
const perRound = 500
const rounds = 60
for (let i = 0; i < 2000; i++) await decode({ token, secret: secrets, salt }) // warm-up
const samples = []
for (let r = 0; r < rounds; r++) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < perRound; i++) await decode({ token, secret: secrets, salt })
  samples.push(Number(process.hrtime.bigint() - start) / perRound / 1000)
}
samples.sort((a, b) => a - b)
console.log(JSON.stringify({ medianMicroseconds: samples[rounds >> 1], p10: samples[rounds / 10], p90: samples[(rounds * 9) / 10] }))
