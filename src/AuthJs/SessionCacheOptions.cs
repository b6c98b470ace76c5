using Microsoft.Extensions.Options;

namespace SessionCache.AuthJs;

/// <summary>How sessions are resolved: in process, or by asking the upstream Auth.js server.</summary>
public enum SessionResolutionMode
{
    /// <summary>Not configured: resolving a session throws, saying how to configure a mode.</summary>
    None,

    /// <summary>In process, as the Auth.js handler would: decrypt the JWT cookie, or read the adapter's tables.</summary>
    Local,

    /// <summary>Forward the session cookie to the Auth.js server's <c>GET &lt;basePath&gt;/session</c>.</summary>
    Proxy,
}

/// <summary>The Auth.js session strategy, for <see cref="SessionResolutionMode.Local"/>.</summary>
public enum SessionStrategy
{
    /// <summary>Sessions are encrypted JWTs in the session cookie (Auth.js' default).</summary>
    Jwt,

    /// <summary>Sessions are rows of the Auth.js database adapter's <c>sessions</c> table.</summary>
    Database,
}

/// <summary>Which Auth.js generation minted the JWT session cookies.</summary>
public enum AuthJsFlavor
{
    /// <summary>Accept both, told apart by the cookie's name (default).</summary>
    Auto,

    /// <summary>Auth.js v5 / <c>@auth/core</c>: <c>authjs.session-token</c>, <c>A256CBC-HS512</c>, key id for rotation.</summary>
    AuthJs,

    /// <summary>NextAuth.js v4: <c>next-auth.session-token</c>, <c>A256GCM</c>, one secret.</summary>
    NextAuthV4,
}

/// <summary>
/// Options of the <c>SessionCache</c> configuration section. Auth.js' own variables
/// (<c>AUTH_SECRET</c>, <c>AUTH_SECRET_1..3</c>, <c>NEXTAUTH_SECRET</c>) are read from the
/// configuration root, as Auth.js reads them from the environment.
/// </summary>
public sealed class SessionCacheOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string SectionName = "SessionCache";

    /// <summary><c>SessionCache:Mode</c>: <c>Local</c> or <c>Proxy</c>. Default: none, and lookups throw.</summary>
    public SessionResolutionMode Mode { get; set; }

    /// <summary><c>SessionCache:Strategy</c>: <c>Jwt</c> (default) or <c>Database</c>, in local mode.</summary>
    public SessionStrategy Strategy { get; set; } = SessionStrategy.Jwt;

    /// <summary><c>SessionCache:Upstream</c>: base URL of the Auth.js routes, e.g. <c>https://app.example.com/api/auth</c> (proxy mode).</summary>
    public Uri? Upstream { get; set; }

    /// <summary><c>SessionCache:ConnectionString</c>: the Auth.js adapter's PostgreSQL database (database strategy).</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// <c>SessionCache:ApiKey</c>: the bearer key of the invalidation and status endpoints and of
    /// the dashboard, which all read this value (set in configuration or in code) and compare it
    /// in constant time.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary><c>SessionCache:MaxCacheAge</c>: upper bound on how long a session is served from cache. Default 5 minutes.</summary>
    public TimeSpan MaxCacheAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// <c>SessionCache:FailSafeMaxAge</c>: while Auth.js or the database fails (an upstream error,
    /// never an answer that there is no session), a session cached past <see cref="MaxCacheAge"/>
    /// keeps being served for up to this much longer, never past its own expiry and never after a
    /// sign-out (the user's grain admits it again each time); upstream is asked again at most every
    /// 5 s meanwhile. Default 5 minutes; zero turns it off. A session grain stays active for this
    /// long after its cache age ends, so that it has something to fall back on, wherever resolving
    /// can fail (proxy mode, the database strategy, a callbacks module; not a plain JWT decode).
    /// </summary>
    public TimeSpan FailSafeMaxAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// <c>SessionCache:EagerRefresh</c>: the fraction of <see cref="MaxCacheAge"/> after which a
    /// session looked up is resolved again in the background while the cached one is served, so
    /// that a session in use never waits on a resolution. Near caches keep the session only until
    /// then, so that a lookup of a hot session reaches its grain in time. Default 0.9; zero turns it
    /// off; otherwise between 0.5 and 0.99.
    /// </summary>
    public double EagerRefresh { get; set; } = 0.9;

    /// <summary>
    /// <c>SessionCache:NegativeCacheAge</c>: how long "no session", "expired", "invalid" and
    /// "signed out" answers are kept, so that a flood of bad cookies is not a flood of upstream
    /// calls. Short, because the answer for a token can change. Upstream errors are never kept.
    /// Default 5 seconds; zero keeps none.
    /// </summary>
    public TimeSpan NegativeCacheAge { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// <c>SessionCache:MaxCookieHeaderLength</c>: longer <c>Cookie</c> headers are refused as invalid
    /// without being parsed. Default 16 KiB, Node's own header limit, so Auth.js never sees longer ones.
    /// </summary>
    public int MaxCookieHeaderLength { get; set; } = 16 * 1024;

    /// <summary>
    /// <c>SessionCache:Secrets</c>: the secrets, newest first, when they are not given as Auth.js'
    /// variables. Empty by default: <c>AUTH_SECRET_3..1</c>, <c>AUTH_SECRET</c> and <c>NEXTAUTH_SECRET</c> are used.
    /// </summary>
    public IList<string> Secrets { get; } = new List<string>();

    /// <summary>
    /// <c>SessionCache:CallbacksModule</c>: the path of an ES module exporting the app's Auth.js
    /// <c>callbacks</c> (the object the app passes to Auth.js, imported from the same file). In local
    /// mode they run as Auth.js runs them on a session request: <c>jwt({ token })</c> then
    /// <c>session({ session, token })</c> for JWT sessions, <c>session({ session, user })</c> for
    /// database sessions. Sandboxed: pure functions of their arguments only (no imports, no Node
    /// globals, no <c>fetch</c>), within <see cref="CallbacksTimeLimit"/> and <see cref="CallbacksMemoryLimit"/>.
    /// Loaded and checked at start. One of three ways to shape the session, with <see cref="SessionFields"/> and <see cref="ShapeSession"/>.
    /// </summary>
    public string? CallbacksModule { get; set; }

    /// <summary><c>SessionCache:CallbacksTimeLimit</c>: time the callbacks may take per resolution; beyond it, no session. Default 250 ms.</summary>
    public TimeSpan CallbacksTimeLimit { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary><c>SessionCache:CallbacksMemoryLimit</c>: bytes the callbacks may allocate per resolution; beyond it, no session. Default 32 MiB.</summary>
    public long CallbacksMemoryLimit { get; set; } = 32L * 1024 * 1024;

    /// <summary>
    /// <c>SessionCache:SessionFields</c>: session fields (dotted paths, e.g. <c>user.id</c>) filled
    /// from token claims for JWT sessions or user columns for database sessions (dotted paths,
    /// e.g. <c>sub</c>), added to Auth.js' default session. A missing claim leaves its field out.
    /// </summary>
    public IDictionary<string, string> SessionFields { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>
    /// Shapes the session in .NET code: gets the decoded token (or the user row) and Auth.js' default
    /// session, and returns the session to serve, or <see langword="null"/> for no session. Runs once
    /// per resolution; an exception means no session (logged by type).
    /// </summary>
    public Func<SessionShapingContext, System.Text.Json.Nodes.JsonObject?>? ShapeSession { get; set; }

    /// <summary>
    /// <c>SessionCache:UpstreamErrors</c>: what <c>GetServerSessionAsync</c> and <c>GetTokenAsync</c>
    /// do when the upstream, the database or the cluster failed. Default <see cref="UpstreamErrorBehavior.Throw"/>.
    /// </summary>
    public UpstreamErrorBehavior UpstreamErrors { get; set; }

    /// <summary>JWT strategy settings.</summary>
    public JwtSessionOptions Jwt { get; } = new();

    /// <summary>Database strategy settings.</summary>
    public DatabaseSessionOptions Database { get; } = new();

    /// <summary>Proxy mode settings.</summary>
    public ProxySessionOptions Proxy { get; } = new();

    /// <summary>Dashboard settings.</summary>
    public DashboardOptions Dashboard { get; } = new();
}

/// <summary>Settings of the silo's dashboard (<c>SessionCache:Dashboard</c>).</summary>
public sealed class DashboardOptions
{
    /// <summary>
    /// The reverse proxies in front of the dashboard, as addresses (<c>10.0.0.5</c>, <c>::1</c>) or
    /// networks (<c>10.0.0.0/8</c>). A dashboard request from one of them is taken to come from the
    /// client its <c>X-Forwarded-For</c> names, over the scheme its <c>X-Forwarded-Proto</c> names:
    /// a remote client is not loopback, and the dashboard's cookie is <c>Secure</c> when the
    /// original request was HTTPS. Empty by default: forwarding headers are believed from no one,
    /// and a request carrying one never counts as loopback.
    /// </summary>
    public IList<string> KnownProxies { get; } = new List<string>();

    /// <summary>Reads one <see cref="KnownProxies"/> entry: an address is a network of one.</summary>
    internal static bool TryParseProxy(string? entry, out System.Net.IPNetwork network)
    {
        network = default;
        var text = entry?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        if (System.Net.IPAddress.TryParse(text, out var address) && !text.Contains('/', StringComparison.Ordinal))
        {
            network = new System.Net.IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128 : 32);
            return true;
        }

        return System.Net.IPNetwork.TryParse(text, out network);
    }
}

/// <summary>Settings of the JWT strategy (<c>SessionCache:Jwt</c>).</summary>
public sealed class JwtSessionOptions
{
    /// <summary>Which Auth.js generation minted the cookies. Default <see cref="AuthJsFlavor.Auto"/>.</summary>
    public AuthJsFlavor Flavor { get; set; } = AuthJsFlavor.Auto;

    /// <summary>
    /// The session cookie's name when the app renamed it (<c>cookies.sessionToken.name</c>); it is
    /// also the key derivation salt. Default: the standard names, <c>__Secure-</c> form first.
    /// </summary>
    public string? CookieName { get; set; }

    /// <summary>Auth.js' <c>session.maxAge</c>: the reported <c>expires</c> is now plus this, and so is a re-issued cookie's <c>exp</c>. Default 30 days.</summary>
    public TimeSpan SessionMaxAge { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// Auth.js' <c>session.updateAge</c>: <c>GET /api/auth/session</c> re-issues the session cookie
    /// (fresh <c>iat</c>, <c>exp</c> and <c>jti</c>) once the presented token is older than this.
    /// Auth.js re-issues on every request; doing so here would give every poll a new cache key.
    /// Default 1 day; zero re-issues on every request.
    /// </summary>
    public TimeSpan UpdateAge { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// The claim holding the time the user signed in, in Unix seconds, which the app's <c>jwt</c>
    /// callback stamps at sign-in and Auth.js keeps across re-encodes. Sign-outs compare with it, so
    /// that a re-encoded copy of a signed-out session stays refused. A token without it falls back to
    /// <c>iat</c>. Default <c>auth_time</c>, OpenID Connect's name for it.
    /// </summary>
    public string SignedInAtClaim { get; set; } = "auth_time";
}

/// <summary>Settings of the database strategy (<c>SessionCache:Database</c>).</summary>
public sealed class DatabaseSessionOptions
{
    /// <summary>The adapter's sessions table, optionally schema-qualified. Default <c>sessions</c>.</summary>
    public string SessionsTable { get; set; } = "sessions";

    /// <summary>The adapter's users table, optionally schema-qualified. Default <c>users</c>.</summary>
    public string UsersTable { get; set; } = "users";

    /// <summary>The session cookie's name when the app renamed it. Default: the standard names.</summary>
    public string? CookieName { get; set; }

    /// <summary>Auth.js' <c>session.maxAge</c>. Default 30 days.</summary>
    public TimeSpan SessionMaxAge { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Auth.js' <c>session.updateAge</c>: how often a read extends the session's expiry. Default 1 day.</summary>
    public TimeSpan UpdateAge { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Whether a read extends a session's expiry as Auth.js' handler does. Default <see langword="true"/>.</summary>
    public bool ExtendSessions { get; set; } = true;

    /// <summary>
    /// Whether signing a user out through the cluster also deletes the user's rows from the sessions
    /// table, so that Auth.js refuses them too, sessions the cluster never saw included. A failed
    /// delete fails the sign-out (retryable). Default <see langword="true"/>.
    /// </summary>
    public bool DeleteOnSignOut { get; set; } = true;
}

/// <summary>Settings of proxy mode (<c>SessionCache:Proxy</c>).</summary>
public sealed class ProxySessionOptions
{
    /// <summary>Time allowed for one upstream attempt. Default 2 seconds.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Time allowed for a lookup including retries. Default 6 seconds.</summary>
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>Retries after a transient failure (timeout, refused connection, 408, 429, 5xx). Default 2.</summary>
    public int MaxRetries { get; set; } = 2;

    /// <summary>First retry delay; later ones grow exponentially, with jitter. Default 100 ms.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Failure ratio over <see cref="CircuitSamplingDuration"/> that opens the circuit. Default 0.5.</summary>
    public double CircuitFailureRatio { get; set; } = 0.5;

    /// <summary>Attempts needed in the sampling window before the circuit may open. Default 20.</summary>
    public int CircuitMinimumThroughput { get; set; } = 20;

    /// <summary>The circuit breaker's sampling window. Default 10 seconds.</summary>
    public TimeSpan CircuitSamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an open circuit fails lookups without calling upstream. Default 5 seconds.</summary>
    public TimeSpan CircuitBreakDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The dotted path of the session field that holds the user id, for grouping a user's sessions.
    /// Default <c>user.id</c>, the field apps commonly add in their <c>session</c> callback.
    /// </summary>
    public string UserIdField { get; set; } = "user.id";

    /// <summary>
    /// The dotted path of the session field that holds the time the user signed in (Unix seconds,
    /// or an ISO 8601 date), which an app's <c>session</c> callback exposes from the token's
    /// <c>auth_time</c>. Sign-outs compare with it, so that a session Auth.js re-encoded after a
    /// sign-out stays refused. Default <c>auth_time</c>; a session without it is judged by when the
    /// cluster first saw it.
    /// </summary>
    public string SignedInAtField { get; set; } = "auth_time";

    /// <summary>Extra headers sent with every upstream request, e.g. <c>X-Forwarded-Host</c>.</summary>
    public IDictionary<string, string> Headers { get; } = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>Session cookie names to forward besides the standard Auth.js and NextAuth.js ones.</summary>
    public IList<string> CookieNames { get; } = new List<string>();

    /// <summary>Largest upstream answer accepted. Default 1 MiB.</summary>
    public int MaxResponseBytes { get; set; } = 1024 * 1024;
}

/// <summary>Checks <see cref="SessionCacheOptions"/> at start, naming the key that is wrong.</summary>
internal sealed class SessionCacheOptionsValidator(Internals.AuthJsSecrets secrets, Internals.ConfiguredShaper shaper) : IValidateOptions<SessionCacheOptions>
{
    private const string Prefix = SessionCacheOptions.SectionName + ":";

    // Auth.js' encode writes these anew every time.
    private static readonly HashSet<string> RenewedClaims = new(StringComparer.Ordinal) { "iat", "exp", "nbf", "jti" };

    public ValidateOptionsResult Validate(string? name, SessionCacheOptions options)
    {
        var failures = new List<string>();
        if (options.MaxCacheAge <= TimeSpan.Zero)
        {
            failures.Add($"{Prefix}{nameof(options.MaxCacheAge)} must be positive, e.g. 00:05:00.");
        }

        if (options.FailSafeMaxAge < TimeSpan.Zero || options.FailSafeMaxAge > TimeSpan.FromDays(1))
        {
            failures.Add($"{Prefix}{nameof(options.FailSafeMaxAge)} must be between 00:00:00 (off) and 1.00:00:00; got {options.FailSafeMaxAge}.");
        }

        if (options.EagerRefresh != 0 && !(options.EagerRefresh >= 0.5 && options.EagerRefresh <= 0.99))
        {
            failures.Add($"{Prefix}{nameof(options.EagerRefresh)} must be 0 (off) or between 0.5 and 0.99, a fraction of {Prefix}{nameof(options.MaxCacheAge)}; got {options.EagerRefresh.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
        }

        if (options.NegativeCacheAge < TimeSpan.Zero || options.NegativeCacheAge > options.MaxCacheAge)
        {
            failures.Add($"{Prefix}{nameof(options.NegativeCacheAge)} must be between 00:00:00 and {Prefix}{nameof(options.MaxCacheAge)} ({options.MaxCacheAge}); got {options.NegativeCacheAge}.");
        }

        // The client's options bind the same key with the same rule (SessionCacheClientOptionsValidator).
        if (options.MaxCookieHeaderLength is < 256 or > 1024 * 1024)
        {
            failures.Add($"{Prefix}{nameof(options.MaxCookieHeaderLength)} must be between 256 and 1048576 (bytes); got {options.MaxCookieHeaderLength}.");
        }

        if (!Enum.IsDefined(options.UpstreamErrors))
        {
            failures.Add($"{Prefix}{nameof(options.UpstreamErrors)} must be Throw or Null.");
        }

        ValidateShaping(options, shaper, failures);

        foreach (var proxy in options.Dashboard.KnownProxies)
        {
            if (!DashboardOptions.TryParseProxy(proxy, out _))
            {
                failures.Add($"{Prefix}Dashboard:{nameof(DashboardOptions.KnownProxies)} contains '{proxy}'; each entry must be an IP address (10.0.0.5) or a network in CIDR notation (10.0.0.0/8).");
            }
        }

        switch (options.Mode)
        {
            case SessionResolutionMode.Local when options.Strategy == SessionStrategy.Jwt:
                if (secrets.ForAuthJs.Count == 0 && secrets.ForNextAuthV4 is null)
                {
                    failures.Add($"{Prefix}Mode is Local with the Jwt strategy, but no secret is set: set AUTH_SECRET (and AUTH_SECRET_1..3 while rotating), NEXTAUTH_SECRET, or {Prefix}{nameof(options.Secrets)}.");
                }

                if (options.Jwt.SessionMaxAge <= TimeSpan.Zero)
                {
                    failures.Add($"{Prefix}Jwt:{nameof(JwtSessionOptions.SessionMaxAge)} must be positive.");
                }

                if (options.Jwt.UpdateAge < TimeSpan.Zero || options.Jwt.UpdateAge > options.Jwt.SessionMaxAge)
                {
                    failures.Add($"{Prefix}Jwt:{nameof(JwtSessionOptions.UpdateAge)} must be between 00:00:00 and {Prefix}Jwt:{nameof(JwtSessionOptions.SessionMaxAge)} ({options.Jwt.SessionMaxAge}); got {options.Jwt.UpdateAge}.");
                }

                if (string.IsNullOrWhiteSpace(options.Jwt.SignedInAtClaim) || RenewedClaims.Contains(options.Jwt.SignedInAtClaim))
                {
                    failures.Add($"{Prefix}Jwt:{nameof(JwtSessionOptions.SignedInAtClaim)} must name a claim that survives Auth.js' re-encodes, e.g. auth_time; iat, exp, nbf and jti are renewed on every one.");
                }

                break;

            case SessionResolutionMode.Local when options.Strategy == SessionStrategy.Database:
                if (string.IsNullOrWhiteSpace(options.ConnectionString))
                {
                    failures.Add($"{Prefix}Mode is Local with the Database strategy, but {Prefix}{nameof(options.ConnectionString)} is not set: give the PostgreSQL connection string of the Auth.js adapter database.");
                }

                if (!Internals.SqlIdentifier.TryQuote(options.Database.SessionsTable, out _))
                {
                    failures.Add($"{Prefix}Database:{nameof(DatabaseSessionOptions.SessionsTable)} must be a table name such as 'sessions' or 'auth.sessions'.");
                }

                if (!Internals.SqlIdentifier.TryQuote(options.Database.UsersTable, out _))
                {
                    failures.Add($"{Prefix}Database:{nameof(DatabaseSessionOptions.UsersTable)} must be a table name such as 'users' or 'auth.users'.");
                }

                if (options.Database.SessionMaxAge <= TimeSpan.Zero || options.Database.UpdateAge < TimeSpan.Zero)
                {
                    failures.Add($"{Prefix}Database:{nameof(DatabaseSessionOptions.SessionMaxAge)} must be positive and {nameof(DatabaseSessionOptions.UpdateAge)} not negative.");
                }

                break;

            case SessionResolutionMode.Local:
                failures.Add($"{Prefix}{nameof(options.Strategy)} must be Jwt or Database.");
                break;

            case SessionResolutionMode.Proxy:
                ValidateProxy(options, failures);
                break;

            case SessionResolutionMode.None:
                break;

            default:
                failures.Add($"{Prefix}{nameof(options.Mode)} must be Local or Proxy.");
                break;
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void ValidateShaping(SessionCacheOptions options, Internals.ConfiguredShaper shaper, List<string> failures)
    {
        var configured = Internals.SessionShaping.Configured(options);
        if (configured.Count == 0)
        {
            return;
        }

        if (configured.Count > 1)
        {
            failures.Add($"The session is shaped in one way only, but {string.Join(" and ", configured)} are all set: keep one.");
            return;
        }

        if (options.Mode != SessionResolutionMode.Local)
        {
            failures.Add($"{configured[0]} shapes sessions in local mode only; in proxy mode the Auth.js server's own callbacks shape them.");
            return;
        }

        if (options.CallbacksTimeLimit <= TimeSpan.Zero || options.CallbacksTimeLimit > TimeSpan.FromSeconds(10))
        {
            failures.Add($"{Prefix}{nameof(options.CallbacksTimeLimit)} must be between 00:00:00.001 and 00:00:10; got {options.CallbacksTimeLimit}.");
        }

        if (options.CallbacksMemoryLimit is < 1024 * 1024 or > 1024L * 1024 * 1024)
        {
            failures.Add($"{Prefix}{nameof(options.CallbacksMemoryLimit)} must be between 1048576 and 1073741824 bytes; got {options.CallbacksMemoryLimit}.");
        }

        foreach (var (field, from) in options.SessionFields)
        {
            if (!IsDottedPath(field) || !IsDottedPath(from))
            {
                failures.Add($"{Prefix}{nameof(options.SessionFields)} maps '{field}' from '{from}'; both must be dotted paths such as user.id and sub.");
            }
        }

        if (failures.Count == 0)
        {
            try
            {
                // Loads the callbacks module, once: the sources use this very instance.
                shaper.GetOrCreate(options);
            }
            catch (Internals.SessionShapingException exception)
            {
                failures.Add(exception.Message);
            }
        }
    }

    private static bool IsDottedPath(string? path) =>
        !string.IsNullOrWhiteSpace(path) && path.Split('.').All(static s => s.Length > 0 && s.Trim() == s);

    private static void ValidateProxy(SessionCacheOptions options, List<string> failures)
    {
        var upstream = options.Upstream;
        if (upstream is null)
        {
            failures.Add($"{Prefix}Mode is Proxy, but {Prefix}{nameof(options.Upstream)} is not set: give the base URL of the Auth.js routes, e.g. https://app.example.com/api/auth.");
            return;
        }

        if (!upstream.IsAbsoluteUri || (upstream.Scheme != Uri.UriSchemeHttps && upstream.Scheme != Uri.UriSchemeHttp))
        {
            failures.Add($"{Prefix}{nameof(options.Upstream)} must be an absolute http(s) URL, e.g. https://app.example.com/api/auth.");
        }
        else if (upstream.Scheme == Uri.UriSchemeHttp && !upstream.IsLoopback)
        {
            failures.Add($"{Prefix}{nameof(options.Upstream)} must use https: session cookies are only sent in clear text to a loopback address (localhost, 127.0.0.1, [::1]).");
        }
        else if (!string.IsNullOrEmpty(upstream.Query) || !string.IsNullOrEmpty(upstream.Fragment))
        {
            failures.Add($"{Prefix}{nameof(options.Upstream)} must be the base URL of the Auth.js routes, without query or fragment.");
        }

        var proxy = options.Proxy;
        if (proxy.AttemptTimeout <= TimeSpan.Zero || proxy.TotalTimeout < proxy.AttemptTimeout)
        {
            failures.Add($"{Prefix}Proxy:{nameof(proxy.AttemptTimeout)} must be positive and no longer than Proxy:{nameof(proxy.TotalTimeout)}.");
        }

        if (proxy.MaxRetries is < 0 or > 10)
        {
            failures.Add($"{Prefix}Proxy:{nameof(proxy.MaxRetries)} must be between 0 and 10.");
        }

        if (proxy.RetryDelay <= TimeSpan.Zero)
        {
            failures.Add($"{Prefix}Proxy:{nameof(proxy.RetryDelay)} must be positive.");
        }

        if (proxy.CircuitFailureRatio is <= 0 or > 1 || proxy.CircuitMinimumThroughput < 2
            || proxy.CircuitSamplingDuration < TimeSpan.FromMilliseconds(500) || proxy.CircuitBreakDuration < TimeSpan.FromMilliseconds(500))
        {
            failures.Add($"{Prefix}Proxy: the circuit breaker needs a failure ratio in (0, 1], a minimum throughput of at least 2, and sampling and break durations of at least 0.5 s.");
        }

        if (string.IsNullOrWhiteSpace(proxy.UserIdField))
        {
            failures.Add($"{Prefix}Proxy:{nameof(proxy.UserIdField)} must name a session field, e.g. user.id.");
        }

        if (string.IsNullOrWhiteSpace(proxy.SignedInAtField) || proxy.SignedInAtField == "expires")
        {
            failures.Add($"{Prefix}Proxy:{nameof(proxy.SignedInAtField)} must name the session field your session callback fills from the token's auth_time, e.g. auth_time; expires changes on every request.");
        }

        if (proxy.MaxResponseBytes < 1024)
        {
            failures.Add($"{Prefix}Proxy:{nameof(proxy.MaxResponseBytes)} must be at least 1024.");
        }
    }
}
