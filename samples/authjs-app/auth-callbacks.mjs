// The app's Auth.js callbacks, in a module of their own: server.mjs passes them to Auth.js, and the
// session cache's silos run this very file in local mode (SessionCache:CallbacksModule), so that the
// cluster answers what Auth.js answers. The silos run it sandboxed, so keep the callbacks pure
// functions of their arguments: no imports, no Node globals, no database, no fetch (for callbacks
// that need those, use proxy mode).
export const callbacks = {
  // At sign-in Auth.js passes the user the provider returned: copy what the app knows into the
  // token, and stamp the sign-in time, which the cluster's sign-outs are decided by. On a session
  // request (no trigger, no user) the token is returned as it is.
  jwt({ token, user, trigger }) {
    if (trigger === "signIn" || trigger === "signUp") token.auth_time = Math.floor(Date.now() / 1000)
    if (user) {
      token.role = user.role ?? "member"
      token.orgs = user.orgs ?? []
    }
    return token
  },

  // On every session request: what the browser and the .NET side see. JWT sessions pass the token,
  // database sessions the adapter's user row (its own columns included). Fields are picked, not
  // spread: a database session's `session` also holds its row, session token included.
  session({ session, token, user }) {
    const from = token ?? user
    const orgs = Array.isArray(from.orgs) ? from.orgs : []
    return {
      user: {
        name: session.user?.name,
        email: session.user?.email,
        image: session.user?.image,
        id: token ? token.sub : String(user.id),
        role: from.role ?? "member",
      },
      expires: session.expires,
      orgs,
      // A computed field.
      tier: orgs.length > 1 ? "team" : "basic",
      auth_time: token?.auth_time,
    }
  },
}
