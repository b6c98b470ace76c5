// The real Auth.js, for the .NET tests: several @auth/express apps on one port, plus helpers that
// mint and decode tokens with Auth.js' and NextAuth.js' own jwt modules, create database sessions
// through @auth/pg-adapter, and misbehave on purpose for proxy-mode tests.
// Prints "LISTENING <port>" once it accepts connections. Listens on 127.0.0.1 only.
import express from "express"
import { ExpressAuth } from "@auth/express"
import Credentials from "@auth/core/providers/credentials"
import PostgresAdapter from "@auth/pg-adapter"
import { encode as encodeV5, decode as decodeV5 } from "@auth/core/jwt"
import { EncryptJWT, base64url, calculateJwkThumbprint } from "jose"
import { hkdf } from "@panva/hkdf"
import pg from "pg"
import { createRequire } from "node:module"
import { withSessionCache } from "../../clients/authjs/index.mjs"
import { deflateCases, judgeVariant, variantNames } from "./jwe-variants.mjs"
import { callbacks as sampleCallbacks } from "../../samples/authjs-app/auth-callbacks.mjs"

const require = createRequire(import.meta.url)
const nextAuthJwt = require("next-auth/jwt")

const app = express()
app.set("trust proxy", true)

const credentials = () =>
  Credentials({
    credentials: { username: {}, password: {}, image: {} },
    // Any user whose password is "correct horse" signs in; the image lets tests grow the token past 4 KB.
    authorize: async (c) =>
      c.password === "correct horse"
        ? { id: `user-${c.username}`, name: c.username, email: `${c.username}@example.test`, image: c.image || null }
        : null,
  })

// Calls to each app's own session endpoint, so that tests can count what reaches Auth.js.
// Per session too (by cookie header), so that tests can see whether any session was resolved twice.
const sessionCalls = {}
const sessionCallsByCookie = {}
app.use((req, res, next) => {
  const m = /^\/(\w+)\/auth\/session$/.exec(req.path)
  if (m && req.method === "GET") {
    sessionCalls[m[1]] = (sessionCalls[m[1]] ?? 0) + 1
    const byCookie = (sessionCallsByCookie[m[1]] ??= new Map())
    const cookie = req.headers.cookie ?? ""
    byCookie.set(cookie, (byCookie.get(cookie) ?? 0) + 1)
  }
  next()
})
app.get("/calls/:app", (req, res) => {
  const counts = [...(sessionCallsByCookie[req.params.app]?.values() ?? [])]
  res.json({
    count: sessionCalls[req.params.app] ?? 0,
    sessions: counts.length,
    maxPerSession: counts.reduce((a, b) => Math.max(a, b), 0),
    sessionsCalledMoreThanOnce: counts.filter((c) => c > 1).length,
  })
})
app.post("/calls/:app/reset", (req, res) => {
  sessionCalls[req.params.app] = 0
  sessionCallsByCookie[req.params.app] = new Map()
  res.json({ ok: true })
})

// Where events.signOut forwards to: the session cache's invalidation endpoint, set by a test.
let signOutTarget = null
// This is what an Auth.js app adds to its configuration (see docs/authjs.md): one fetch per sign-out.
const events = {
  async signOut(message) {
    if (!signOutTarget) return
    const response = await fetch(signOutTarget.url, {
      method: "POST",
      headers: { authorization: `Bearer ${signOutTarget.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify(message),
    })
    if (!response.ok) throw new Error(`session cache invalidation failed: ${response.status}`)
  },
}

// Secrets from AUTH_SECRET and AUTH_SECRET_1..3, as Auth.js reads them (setEnvDefaults).
app.use("/jwt/auth", ExpressAuth({ providers: [credentials()], trustHost: true, events }))
// The same app again behind a switch: proxy-mode tests turn it off to see upstream errors.
// Or makes it fail the ways an upstream does: 500, 429, or hanging until the caller times out;
// or answer "no session" to every session request ("gone").
let switchedOff = false
let switchFault = null
app.use("/switch/auth", (req, res, next) => {
  if (switchedOff) return res.status(503).send("switched off")
  if (switchFault === "500") return res.status(500).send("Internal Server Error")
  if (switchFault === "429") return res.status(429).set("Retry-After", "1").send("Too Many Requests")
  if (switchFault === "hang") return setTimeout(() => res.headersSent || res.status(504).send("late"), 60_000)
  // What Auth.js answers once a session is gone (signed out in the database, its user deleted).
  if (switchFault === "gone" && req.path === "/session") return res.json(null)
  next()
})
// Its session callback exposes the user id, as apps commonly do (proxy mode reads it from user.id),
// and the sign-in time where the token carries one (proxy mode reads auth_time; tokens signed in
// through /jwt/auth have none).
app.use(
  "/switch/auth",
  ExpressAuth({
    providers: [credentials()],
    trustHost: true,
    events,
    callbacks: { session: ({ session, token }) => ({ ...session, user: { ...session.user, id: token.sub }, auth_time: token.auth_time }) },
  })
)
app.use("/secure/auth", ExpressAuth({ providers: [credentials()], trustHost: true, useSecureCookies: true }))

// The sample app's callbacks module (samples/authjs-app/auth-callbacks.mjs), which the silos run in
// local mode too: its users carry a role and organisations, copied into the token at sign-in.
const usersWithRoles = () =>
  Credentials({
    credentials: { username: {}, password: {} },
    authorize: async (c) =>
      c.password === "correct horse"
        ? {
            id: `user-${c.username}`,
            name: c.username,
            email: `${c.username}@example.test`,
            role: c.username.startsWith("admin") ? "admin" : "member",
            orgs: c.username.startsWith("admin") ? ["acme", "globex"] : ["acme"],
          }
        : null,
  })
app.use("/callbacks/auth", ExpressAuth({ providers: [usersWithRoles()], trustHost: true, callbacks: sampleCallbacks }))

// The lines of docs/authjs.md: the jwt callback stamps auth_time at sign-in (Auth.js keeps it across every
// re-encode), and the session callback exposes it with the user id, for proxy mode.
const stampedCallbacks = {
  jwt({ token, trigger }) {
    if (trigger === "signIn" || trigger === "signUp") token.auth_time = Math.floor(Date.now() / 1000)
    return token
  },
  session: ({ session, token }) => ({ ...session, user: { ...session.user, id: token.sub }, auth_time: token.auth_time }),
}
app.use("/stamped/auth", ExpressAuth({ providers: [credentials()], trustHost: true, events, callbacks: stampedCallbacks }))

// An app that spreads the repository's module (clients/authjs) into its config, keeping a session
// callback of its own; the cluster it talks to is set by a test (/config/module-target).
// Warnings the module logs are kept for the tests to read.
const moduleWarnings = []
let moduleApp = null
app.use("/module/auth", (req, res, next) => (moduleApp ? moduleApp(req, res, next) : res.status(503).send("no module target")))
app.get("/module-warnings", (req, res) => res.json(moduleWarnings))

// @auth/pg-adapter's deleteSession returns nothing, so events.signOut would get no session to
// forward; returning the deleted row, as other adapters (Prisma, Drizzle) do, fixes that. The
// wrapper docs/authjs.md shows.
const signOutReadyAdapter = (adapter) => ({
  ...adapter,
  async deleteSession(sessionToken) {
    const { rows } = await pool.query('delete from sessions where "sessionToken" = $1 returning *', [sessionToken])
    return rows[0] ?? null
  },
})

let pool = null
if (process.env.DATABASE_URL) {
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
  app.use(
    "/db/auth",
    ExpressAuth({
      adapter: signOutReadyAdapter(PostgresAdapter(pool)),
      session: { strategy: "database" },
      events,
      // Auth.js remembers across apps of one process that it has seen a credentials provider, and
      // then refuses a database app made only of credentials; an OIDC provider keeps it content.
      // Nothing here signs in through it: the tests make database sessions with the adapter.
      providers: [{ id: "example", name: "Example", type: "oidc", issuer: "https://issuer.example.test", clientId: "id", clientSecret: "secret" }],
      trustHost: true,
    })
  )
  // The same adapter with the sample's callbacks module: its session callback reads user columns.
  app.use(
    "/dbcallbacks/auth",
    ExpressAuth({
      adapter: PostgresAdapter(pool),
      session: { strategy: "database" },
      callbacks: sampleCallbacks,
      providers: [{ id: "example", name: "Example", type: "oidc", issuer: "https://issuer.example.test", clientId: "id", clientSecret: "secret" }],
      trustHost: true,
    })
  )
}

app.use(express.json({ limit: "1mb" }))

app.post("/config/switch", (req, res) => {
  switchedOff = req.body?.off === true
  switchFault = req.body?.fault ?? null
  res.json({ ok: true })
})

app.post("/config/module-target", (req, res) => {
  moduleApp = ExpressAuth(
    withSessionCache(
      {
        providers: [credentials()],
        trustHost: true,
        callbacks: {
          // Builds a new token, as some apps do: the module must carry auth_time over.
          jwt: ({ token }) => ({ sub: token.sub, name: token.name, email: token.email, picture: token.picture, role: "member" }),
          session: ({ session, token }) => ({ ...session, user: { ...session.user, id: token.sub, role: token.role } }),
        },
      },
      { url: req.body.url, apiKey: req.body.apiKey, timeoutMs: 1000, logger: { warn: (m) => moduleWarnings.push(m) } }
    )
  )
  res.json({ ok: true })
})

app.post("/config/signout-target", (req, res) => {
  signOutTarget = req.body?.url ? { url: req.body.url, apiKey: req.body.apiKey } : null
  res.json({ ok: true })
})

// Mint an Auth.js v5 token. Options beyond Auth.js' own encode (no kid, A256GCM) go through jose
// with Auth.js' key derivation, to make the tokens Auth.js' decode accepts but its encode never writes.
app.post("/mint/v5", async (req, res) => {
  const { token, secret, salt, maxAge, omitKid, enc, issuedAt } = req.body
  if (!omitKid && !enc && !issuedAt) return res.json({ jwt: await encodeV5({ token, secret, salt, maxAge }) })
  const e = enc ?? "A256CBC-HS512"
  const key = await hkdf("sha256", Array.isArray(secret) ? secret[0] : secret, salt, `Auth.js Generated Encryption Key (${salt})`, e === "A256GCM" ? 32 : 64)
  const header = { alg: "dir", enc: e }
  if (!omitKid) header.kid = await calculateJwkThumbprint({ kty: "oct", k: base64url.encode(key) }, `sha${key.byteLength << 3}`)
  const now = (Date.now() / 1000) | 0
  const jwt = await new EncryptJWT(token).setProtectedHeader(header).setIssuedAt(issuedAt ?? now).setExpirationTime(now + (maxAge ?? 2592000)).setJti(crypto.randomUUID()).encrypt(key)
  res.json({ jwt })
})

app.post("/decode/v5", async (req, res) => {
  try {
    res.json({ payload: await decodeV5(req.body) })
  } catch {
    res.json({ payload: null })
  }
})

// NextAuth.js v4's encode, or with issuedAt its key derivation and jose, for a token issued in the past.
app.post("/mint/v4", async (req, res) => {
  const { token, secret, maxAge, issuedAt } = req.body
  if (!issuedAt) return res.json({ jwt: await nextAuthJwt.encode(req.body) })
  const key = await hkdf("sha256", secret, "", "NextAuth.js Generated Encryption Key", 32)
  const now = (Date.now() / 1000) | 0
  const jwt = await new EncryptJWT(token).setProtectedHeader({ alg: "dir", enc: "A256GCM" }).setIssuedAt(issuedAt).setExpirationTime(now + (maxAge ?? 2592000)).setJti(crypto.randomUUID()).encrypt(key)
  res.json({ jwt })
})

app.post("/decode/v4", async (req, res) => {
  try {
    res.json({ payload: await nextAuthJwt.decode(req.body) })
  } catch {
    res.json({ payload: null })
  }
})

// JWE header variants (jwe-variants.mjs): a token made by jose and the verdict of the flavor's own decode.
app.get("/jwe/variants", (req, res) => res.json(variantNames))
app.post("/jwe/variant", async (req, res) => res.json(await judgeVariant(req.body)))
app.get("/deflate/cases", (req, res) => res.json(deflateCases({ seed: Number(req.query.seed ?? 1), count: Number(req.query.count ?? 2000) })))

// Create a user and a database session through the real adapter.
app.post("/db/create-session", async (req, res) => {
  const adapter = PostgresAdapter(pool)
  const { user, userId, expiresInSeconds, expiresAt, sessionToken } = req.body
  const { role, ...standard } = user ?? {}
  const created = userId ? { id: userId } : await adapter.createUser({ ...standard, emailVerified: null })
  // A column of the app's own, which its session callback reads.
  if (role !== undefined) await pool.query("update users set role = $1 where id = $2", [role, created.id])
  const session = await adapter.createSession({
    sessionToken,
    userId: created.id,
    expires: expiresAt ? new Date(expiresAt) : new Date(Date.now() + expiresInSeconds * 1000),
  })
  res.json({ userId: String(created.id), expires: session.expires })
})

app.post("/db/delete-user", async (req, res) => {
  await pool.query("delete from users where id = $1", [req.body.userId])
  res.json({ ok: true })
})

// Upstream failures for proxy mode; each route counts its calls so tests can see the retries.
const counts = {}
app.get("/count/:name", (req, res) => res.json({ count: counts[req.params.name] ?? 0 }))
app.use((req, res, next) => {
  const m = /^\/fault\/(\w+)\//.exec(req.path)
  if (m) counts[m[1]] = (counts[m[1]] ?? 0) + 1
  next()
})
app.get("/fault/500/session", (req, res) => res.status(500).send("Internal Server Error"))
app.get("/fault/429/session", (req, res) => res.status(429).set("Retry-After", "1").send("Too Many Requests"))
app.get("/fault/badjson/session", (req, res) => res.type("application/json").send("{\"user\": {"))
app.get("/fault/redirect/session", (req, res) => res.redirect(302, "/login"))
app.get("/fault/slow/session", () => {
  /* never answers; the client's timeout must fire */
})
let flaky = 0
app.get("/fault/flaky/session", (req, res) => (++flaky % 2 === 1 ? res.status(503).send("busy") : res.json(null)))

const server = app.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`LISTENING ${server.address().port}`)
})
process.stdin.on("end", () => process.exit(0))
process.stdin.resume()
