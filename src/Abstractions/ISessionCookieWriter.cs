namespace SessionCache.AuthJs;

/// <summary>
/// The cookies Auth.js' session endpoint sets with its answer: a re-issued JWT session cookie, a
/// database session cookie with a renewed expiry, or the request's session cookies cleared.
/// Registered where sessions are resolved locally (the process holds the secrets or the database);
/// <c>GET /api/auth/session</c> uses it when present and sets no cookies otherwise.
/// </summary>
public interface ISessionCookieWriter
{
    /// <summary>
    /// The <c>Set-Cookie</c> header values for answering <paramref name="result"/> to
    /// <paramref name="request"/>; empty when Auth.js would set none (and on a cache hit whose token
    /// is younger than <c>SessionCache:Jwt:UpdateAge</c>). Never a cookie for a session the result refuses.
    /// </summary>
    /// <param name="request">The request's cookies.</param>
    /// <param name="result">The cluster's answer for them.</param>
    /// <returns>The header values, in the order to send them.</returns>
    IReadOnlyList<string> SetCookies(SessionRequest request, SessionLookupResult result);
}
