namespace SessionCache.AuthJs;

/// <summary>What a session lookup found.</summary>
public enum SessionLookupStatus
{
    /// <summary>A valid session: <see cref="SessionLookupResult.Session"/> is set.</summary>
    Session,

    /// <summary>The request carries no session (no cookie, or the session no longer exists).</summary>
    NoSession,

    /// <summary>The request carries a session that has expired.</summary>
    Expired,

    /// <summary>The request carries a token that cannot be a session: malformed, tampered, or for another secret.</summary>
    Invalid,

    /// <summary>
    /// The session could not be resolved because the upstream Auth.js server or the database failed.
    /// This is never "no session": callers must not treat the user as signed out.
    /// </summary>
    UpstreamError,

    /// <summary>
    /// The session was valid but its user, or the session itself, was signed out through the
    /// cluster (<see cref="ISessionCache.InvalidateUserAsync"/>, <see cref="ISessionCache.InvalidateSessionAsync"/>
    /// or the invalidation endpoint). Treated like <see cref="NoSession"/> by <c>GetServerSessionAsync</c>.
    /// </summary>
    Revoked,
}

/// <summary>
/// The outcome of resolving a request's session, with what a cache needs to know about it.
/// </summary>
public sealed record SessionLookupResult
{
    private SessionLookupResult(SessionLookupStatus status)
    {
        Status = status;
    }

    /// <summary>What the lookup found.</summary>
    public SessionLookupStatus Status { get; }

    /// <summary>The session, when <see cref="Status"/> is <see cref="SessionLookupStatus.Session"/>.</summary>
    public AuthJsSession? Session { get; private init; }

    /// <summary>
    /// The id of the user the session belongs to, which groups a user's sessions for sign-out:
    /// the JWT's <c>sub</c>, the database session's <c>userId</c>, or the configured field of an
    /// upstream session. <see langword="null"/> when the session does not say.
    /// </summary>
    public string? UserId { get; private init; }

    /// <summary>
    /// When the session's token was last issued (the JWT's <c>iat</c>), where known. Auth.js renews
    /// it on every re-encode, so it says how old this copy of the session is, not when the user signed in.
    /// </summary>
    public DateTimeOffset? IssuedAt { get; private init; }

    /// <summary>
    /// When the user signed in, where the session says so in a form that survives Auth.js'
    /// re-encodes: the JWT claim <c>SessionCache:Jwt:SignedInAtClaim</c> (default <c>auth_time</c>),
    /// or the session field <c>SessionCache:Proxy:SignedInAtField</c> in proxy mode. Sign-outs are
    /// decided by it; <see langword="null"/> when the session does not carry it.
    /// </summary>
    public DateTimeOffset? SignedInAt { get; private init; }

    /// <summary>
    /// Until when this result may be served without resolving again: the earliest of the
    /// session's <c>expires</c> and the token's <c>exp</c>. <see langword="null"/> for results
    /// that carry no session; a cache decides how long to remember those.
    /// </summary>
    public DateTimeOffset? ValidUntil { get; private init; }

    /// <summary>
    /// The decoded JWT the session came from (local mode, JWT strategy), cached with it; what
    /// <c>GetTokenAsync</c> answers. <see langword="null"/> in proxy mode and for database sessions.
    /// </summary>
    public AuthJsToken? Token { get; private init; }

    /// <summary>
    /// For <see cref="SessionLookupStatus.UpstreamError"/>: whether trying again later may succeed
    /// (timeouts, refused connections, 5xx, 429, an open circuit).
    /// </summary>
    public bool IsRetryable { get; private init; }

    /// <summary>
    /// A short, safe explanation of a result without a session (never a token, cookie, secret or e-mail).
    /// </summary>
    public string? Reason { get; private init; }

    /// <summary>A result with a session.</summary>
    /// <param name="session">The session.</param>
    /// <param name="userId">The user id that groups the user's sessions.</param>
    /// <param name="issuedAt">When the token was issued, where known.</param>
    /// <param name="validUntil">Until when the session may be served.</param>
    /// <param name="signedInAt">When the user signed in, where the session carries it (see <see cref="SignedInAt"/>).</param>
    /// <returns>The result.</returns>
    public static SessionLookupResult Found(AuthJsSession session, string? userId, DateTimeOffset? issuedAt, DateTimeOffset? validUntil, DateTimeOffset? signedInAt = null)
    {
        ArgumentNullException.ThrowIfNull(session);
        return new(SessionLookupStatus.Session) { Session = session, UserId = userId, IssuedAt = issuedAt, ValidUntil = validUntil, SignedInAt = signedInAt };
    }

    /// <summary>The request carries no session.</summary>
    public static SessionLookupResult NoSession { get; } = new(SessionLookupStatus.NoSession);

    /// <summary>A result for an expired session.</summary>
    /// <param name="reason">A short, safe explanation.</param>
    /// <returns>The result.</returns>
    public static SessionLookupResult Expired(string reason) => new(SessionLookupStatus.Expired) { Reason = reason };

    /// <summary>A result for a token that cannot be a session.</summary>
    /// <param name="reason">A short, safe explanation.</param>
    /// <returns>The result.</returns>
    public static SessionLookupResult Invalid(string reason) => new(SessionLookupStatus.Invalid) { Reason = reason };

    /// <summary>A session that was signed out through the cluster.</summary>
    /// <param name="reason">A short, safe explanation.</param>
    /// <returns>The result.</returns>
    public static SessionLookupResult Revoked(string reason) => new(SessionLookupStatus.Revoked) { Reason = reason };

    /// <summary>Rebuilds a result from its parts, as it travels between processes.</summary>
    internal static SessionLookupResult FromParts(SessionLookupStatus status, AuthJsSession? session, string? userId, DateTimeOffset? issuedAt, DateTimeOffset? validUntil, bool isRetryable, string? reason, DateTimeOffset? signedInAt, AuthJsToken? token) =>
        new(status) { Session = session, UserId = userId, IssuedAt = issuedAt, ValidUntil = validUntil, IsRetryable = isRetryable, Reason = reason, SignedInAt = signedInAt, Token = token };

    /// <summary>This result with the token it was decoded from.</summary>
    internal SessionLookupResult WithToken(AuthJsToken token) => this with { Token = token };

    /// <summary>A result for an upstream or database failure.</summary>
    /// <param name="reason">A short, safe explanation.</param>
    /// <param name="retryable">Whether trying again later may succeed.</param>
    /// <returns>The result.</returns>
    public static SessionLookupResult UpstreamFailure(string reason, bool retryable) =>
        new(SessionLookupStatus.UpstreamError) { Reason = reason, IsRetryable = retryable };
}
