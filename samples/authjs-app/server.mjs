// A small Auth.js app (@auth/express) whose sessions the session cache cluster resolves. It is
// what `scripts/run.sh` starts next to a silo, and the `authjs` service of docker-compose.yml.
//
//   AUTH_SECRET             required: the secret the silos decrypt session cookies with
//   HOST, PORT              where to listen (default 127.0.0.1:3000)
//   DATABASE_URL            PostgreSQL: database sessions through @auth/pg-adapter, signing in by
//                           e-mail link (the links land in this app's /inbox; nothing is mailed).
//                           Without it: JWT sessions, signing in with any name and password "authjs".
//   SESSION_CACHE_URL       the session cache (a silo or the co-hosting web app), wired in with the
//   SESSION_CACHE_API_KEY   repository's module (clients/authjs): auth_time stamped at sign-in, every
//                           sign-out posted to <url>/api/sessions/invalidate with this key, and
//                           signed-out devices cleared by Auth.js itself (<url>/api/sessions/status)
//   LOOKUP_COMMAND          how the home page tells you to run the command-line client
//
// Its jwt and session callbacks live in auth-callbacks.mjs, which the silos run too
// (SessionCache:CallbacksModule): the cluster answers the session this app's callbacks shape.
import express from "express"
import { ExpressAuth, getSession } from "@auth/express"
import Credentials from "@auth/core/providers/credentials"
import PostgresAdapter from "@auth/pg-adapter"
import pg from "pg"
import { withSessionCache } from "../../clients/authjs/index.mjs"
import { callbacks } from "./auth-callbacks.mjs"

const host = process.env.HOST ?? "127.0.0.1"
const port = Number(process.env.PORT ?? 3000)
if (!process.env.AUTH_SECRET) {
  console.error("AUTH_SECRET is not set: Auth.js needs it to encrypt session cookies, and the silos the same value to read them.")
  process.exit(2)
}

// What the session cache needs from an Auth.js app (see docs/authjs.md, "Wiring Auth.js"), through the
// repository's module: the jwt callback stamps auth_time at sign-in, so a sign-out holds across
// Auth.js' re-encodes, and asks the cluster whether the user was signed out, so that Auth.js clears
// a signed-out device's cookie; events.signOut forwards every sign-out. Auth.js keeps no list of
// JWTs, so a JWT sign-out signs the user out on every device; a database sign-out ends that one session.
const cacheUrl = process.env.SESSION_CACHE_URL?.replace(/\/+$/, "")
const withCache = (config) =>
  cacheUrl ? withSessionCache(config, { url: cacheUrl, apiKey: process.env.SESSION_CACHE_API_KEY ?? "" }) : config

// E-mail links of database mode, newest first; a demo inbox instead of a mail server.
const inbox = []
let pool = null
const config = { trustHost: true, basePath: "/auth", callbacks }
if (process.env.DATABASE_URL) {
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 })
  const adapter = PostgresAdapter(pool)
  Object.assign(config, {
    session: { strategy: "database" },
    // @auth/pg-adapter's deleteSession returns nothing, which leaves events.signOut without the
    // session; returning the deleted row (as the Prisma and Drizzle adapters do) fixes that.
    adapter: {
      ...adapter,
      async deleteSession(sessionToken) {
        const { rows } = await pool.query('delete from sessions where "sessionToken" = $1 returning *', [sessionToken])
        return rows[0] ?? null
      },
    },
    providers: [
      {
        id: "email",
        type: "email",
        name: "Email",
        from: "sign-in@sample.invalid",
        maxAge: 24 * 60 * 60,
        options: {},
        async sendVerificationRequest({ identifier, url }) {
          inbox.unshift({ to: identifier, url, at: new Date().toISOString() })
          inbox.length = Math.min(inbox.length, 20)
        },
      },
    ],
  })
} else {
  const slug = (name) => name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "user"
  config.providers = [
    Credentials({
      name: "a demo account",
      credentials: { username: { label: "Name (one starting with admin is an admin)" }, password: { label: "Password (authjs)", type: "password" } },
      // What the app knows about its users, which the jwt callback copies into the token at sign-in.
      authorize: async ({ username, password }) =>
        password === "authjs" && typeof username === "string" && username.trim()
          ? {
              id: `user-${slug(username)}`,
              name: username.trim(),
              email: `${slug(username)}@example.test`,
              role: slug(username).startsWith("admin") ? "admin" : "member",
              orgs: slug(username).startsWith("admin") ? ["acme", "globex"] : ["acme"],
            }
          : null,
    }),
  ]
}

Object.assign(config, withCache(config))

const app = express()
app.set("trust proxy", true)
app.use("/auth", ExpressAuth(config))

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
const sessionCookies = (header) =>
  (header ?? "")
    .split(";")
    .map((c) => c.trim())
    .filter((c) => /^(__Secure-)?authjs\.session-token(\.\d+)?=/.test(c))
    .join("; ")
const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;color:#222}
pre{background:#f4f4f4;padding:.8rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}a.button{display:inline-block;padding:.5rem 1rem;background:#222;color:#fff;text-decoration:none;border-radius:4px}</style>
</head><body>${body}</body></html>`

app.get("/", async (req, res) => {
  const session = await getSession(req, config)
  if (!session) {
    res.send(page("Sample Auth.js app", `<h1>Sample Auth.js app</h1>
<p>Not signed in. ${pool ? "Sign in with any e-mail address; the link appears in the <a href=\"/inbox\">inbox</a>." : "Sign in with any name and the password <code>authjs</code>."}</p>
<p><a class="button" id="sign-in" href="/auth/signin?callbackUrl=%2F">Sign in</a></p>`))
    return
  }
  const cookie = sessionCookies(req.headers.cookie)
  const command = `${process.env.LOOKUP_COMMAND ?? "dotnet run --project src/Cli --"} lookup --cookie '${cookie}'`
  res.send(page("Signed in", `<h1>Signed in as <span id="name">${escape(session.user?.name ?? session.user?.email ?? "?")}</span></h1>
<p>Auth.js' session, as <code>/auth/session</code> returns it:</p><pre id="session">${escape(JSON.stringify(session, null, 2))}</pre>
<p>Look the same session up through the cluster (your session cookie is in the command; treat it like a password):</p>
<pre id="lookup-command">${escape(command)}</pre>
<p><a class="button" id="sign-out" href="/auth/signout">Sign out</a> (the session cache forgets the session on every silo)</p>`))
})

app.get("/inbox", (req, res) => {
  const items = inbox.map((m) => `<li>${escape(m.at)} to ${escape(m.to)}: <a href="${escape(m.url)}">sign in</a></li>`).join("")
  res.send(page("Inbox", `<h1>Inbox</h1><p>The sign-in links this app would have mailed.</p><ul>${items || "<li>(empty)</li>"}</ul>`))
})

app.get("/healthz", (req, res) => res.type("text").send("ok"))

const server = app.listen(port, host, () => console.log(`LISTENING ${server.address().port}`))
const stop = () => server.close(() => pool?.end().finally(() => process.exit(0)) ?? process.exit(0))
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
