// The session cache's side of an Auth.js app, as one ES module with no dependency beyond fetch.
//
//   import { withSessionCache } from "./session-cache.mjs"
//   export const { handlers, auth } = NextAuth(withSessionCache({ providers, callbacks, events }, {
//     url: process.env.SESSIONCACHE_URL,        // e.g. http://sessioncache:8080
//     apiKey: process.env.SESSIONCACHE_API_KEY, // SessionCache:ApiKey
//   }))
//
// It does three things, keeping whatever callbacks and events the app already has:
// - the jwt callback stamps `auth_time` (Unix seconds) when the user signs in, and Auth.js keeps
//   it across every re-encode: the cluster decides sign-outs by it;
// - events.signOut forwards Auth.js' sign-out message to POST /api/sessions/invalidate, so the
//   user is signed out on every device the cluster serves;
// - the jwt callback asks the cluster (POST /api/sessions/status) whether the token's user was
//   signed out since `auth_time`, and returns null if so: Auth.js then clears the cookie, and the
//   device's front end shows it is signed out. When the cluster cannot be reached within
//   `timeoutMs`, the token is kept (the app stays up when the cluster is down) and a warning is
//   logged; the cluster itself keeps refusing the session wherever it is asked.

const statusPath = "/api/sessions/status"
const invalidatePath = "/api/sessions/invalidate"
const nowSeconds = () => Math.floor(Date.now() / 1000)

/**
 * Returns `config` with the session cache wired into its callbacks and events.
 * @param {object} config the Auth.js configuration (providers, callbacks, events, ...)
 * @param {object} options
 * @param {string} options.url the cluster's base URL (where /api/sessions/* answer)
 * @param {string} options.apiKey SessionCache:ApiKey
 * @param {boolean} [options.checkSignOut=true] ask the cluster on every session read (JWT sessions)
 * @param {string} [options.claim="auth_time"] the claim stamped at sign-in (SessionCache:Jwt:SignedInAtClaim)
 * @param {number} [options.timeoutMs=2000] how long one call to the cluster may take
 * @param {number} [options.signOutAttempts=3] tries to forward a sign-out before giving up
 * @param {{ warn: Function }} [options.logger=console] where failures are reported (never a token)
 * @param {typeof fetch} [options.fetch=globalThis.fetch]
 */
export function withSessionCache(config = {}, options = {}) {
  const {
    url,
    apiKey,
    checkSignOut = true,
    claim = "auth_time",
    timeoutMs = 2000,
    signOutAttempts = 3,
    logger = console,
    fetch: fetchImpl = globalThis.fetch,
  } = options
  if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
    throw new TypeError("withSessionCache: options.url must be the session cache's base URL, e.g. http://sessioncache:8080")
  }
  if (typeof apiKey !== "string" || apiKey.length === 0) {
    throw new TypeError("withSessionCache: options.apiKey must be the cluster's SessionCache:ApiKey")
  }

  const base = url.replace(/\/+$/, "")
  const appJwt = config.callbacks?.jwt
  const appSignOut = config.events?.signOut

  const post = (path, body) =>
    fetchImpl(base + path, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })

  // true: signed out; false: not; null: the cluster could not say.
  async function isSignedOut(userId, signedInAt) {
    try {
      const response = await post(statusPath, { userId, signedInAt })
      if (!response.ok) {
        logger.warn(`session cache: ${statusPath} answered ${response.status}; keeping the session`)
        return null
      }
      const answer = await response.json()
      return answer?.signedOut === true
    } catch (error) {
      logger.warn(`session cache: ${statusPath} unreachable (${error?.name ?? "error"}); keeping the session`)
      return null
    }
  }

  async function jwt(params) {
    const { token, trigger } = params
    const signingIn = trigger === "signIn" || trigger === "signUp"
    if (signingIn) {
      token[claim] = nowSeconds()
    } else if (checkSignOut && token && typeof token.sub === "string" && token.sub.length > 0) {
      // A token minted before the app used this module has no auth_time: its iat is the best
      // bound there is, and stamping it keeps the sign-in's time fixed from now on.
      const signedInAt = typeof token[claim] === "number" ? token[claim] : typeof token.iat === "number" ? token.iat : null
      if (signedInAt !== null) {
        if ((await isSignedOut(token.sub, signedInAt)) === true) return null
        if (token[claim] === undefined) token[claim] = signedInAt
      }
    }
    if (!appJwt) return token
    // An app callback that builds a new token would drop the sign-in time; keep it.
    const result = await appJwt(params)
    if (result && typeof result === "object" && result[claim] === undefined && token?.[claim] !== undefined) result[claim] = token[claim]
    return result
  }

  async function signOut(message) {
    let lastFailure = "no attempt"
    for (let attempt = 1; attempt <= signOutAttempts; attempt++) {
      try {
        const response = await post(invalidatePath, message)
        if (response.ok) break
        lastFailure = `HTTP ${response.status}`
        // 400 and 401 will not change by trying again.
        if (response.status < 500 && response.status !== 429) attempt = signOutAttempts
      } catch (error) {
        lastFailure = error?.name ?? "error"
      }
      if (attempt === signOutAttempts) {
        logger.warn(`session cache: the sign-out could not be forwarded (${lastFailure}); other devices stay signed in until it is`)
      } else {
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt))
      }
    }
    if (appSignOut) await appSignOut(message)
  }

  return {
    ...config,
    callbacks: { ...config.callbacks, jwt },
    events: { ...config.events, signOut },
  }
}

/** The same wiring for an app without callbacks or events of its own: spread it into the config. */
export const sessionCache = (options) => {
  const { callbacks, events } = withSessionCache({}, options)
  return { callbacks, events }
}
