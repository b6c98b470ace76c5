using System.Globalization;
using Microsoft.Extensions.Options;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// Sets cookies as Auth.js' session action does (<c>lib/actions/session.ts</c>, <c>SessionStore</c>
/// in <c>lib/utils/cookie.ts</c>): JWT sessions re-issued and chunked, database sessions re-set with a
/// new <c>Expires</c>, refused sessions' cookies cleared with every chunk. Proxy mode sets none: the
/// cluster answers from cache, so Auth.js' own cookie for that request does not exist.
/// </summary>
internal sealed class SessionCookieWriter(IOptions<SessionCacheOptions> options, JwtSessionSource jwt, TimeProvider time) : ISessionCookieWriter
{
    // Auth.js' ALLOWED_COOKIE_SIZE (4096) less its ESTIMATED_EMPTY_COOKIE_SIZE (160); NextAuth.js
    // v4 estimates 163.
    internal const int ChunkSize = 4096 - 160;
    internal const int NextAuthV4ChunkSize = 4096 - 163;

    private readonly SessionCacheOptions _options = options.Value;

    public IReadOnlyList<string> SetCookies(SessionRequest request, SessionLookupResult result)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(result);
        if (_options.Mode != SessionResolutionMode.Local)
        {
            return [];
        }

        var database = _options.Strategy == SessionStrategy.Database;
        switch (result.Status)
        {
            case SessionLookupStatus.Session when database:
                return Renewed(request);
            case SessionLookupStatus.Session:
                // Throttled by updateAge: every re-issue is a new cache key, and so a new decode.
                var now = time.GetUtcNow();
                if (result.IssuedAt is { } issued && now - issued < _options.Jwt.UpdateAge)
                {
                    return [];
                }

                return jwt.Reissue(request, result) is { } reissued
                    ? Chunked(request, reissued.CookieName, reissued.Token, reissued.Expires, reissued.NextAuthV4 ? NextAuthV4ChunkSize : ChunkSize)
                    : [];
            case SessionLookupStatus.Invalid or SessionLookupStatus.Expired or SessionLookupStatus.Revoked:
            case SessionLookupStatus.NoSession when database:
                return Cleared(request, database ? DatabaseNames() : jwt.CookieNames);
            default:
                // No cookie, or an upstream failure: nothing is known about the cookie, so it stays.
                return [];
        }
    }

    /// <summary>A database session's cookie again, its expiry now + maxAge, as Auth.js sets it on every read.</summary>
    private List<string> Renewed(SessionRequest request)
    {
        foreach (var name in DatabaseNames())
        {
            var token = CookieReader.ReadSessionToken(request, name);
            if (token.Length > 0)
            {
                return [SetCookie(name, token, time.GetUtcNow() + _options.Database.SessionMaxAge)];
            }
        }

        return [];
    }

    /// <summary>
    /// Auth.js' <c>SessionStore.chunk</c>: every session cookie of the request cleared, then
    /// overwritten by the new value's chunks (one cookie up to <paramref name="chunkSize"/>, else
    /// <c>name.0</c>, <c>name.1</c>, ...).
    /// </summary>
    private static List<string> Chunked(SessionRequest request, string name, string value, DateTimeOffset expires, int chunkSize)
    {
        var chunks = new List<KeyValuePair<string, string>>();
        var count = (value.Length + chunkSize - 1) / chunkSize;
        if (count <= 1)
        {
            chunks.Add(new(name, value));
        }
        else
        {
            for (var i = 0; i < count; i++)
            {
                chunks.Add(new($"{name}.{i}", value.Substring(i * chunkSize, Math.Min(chunkSize, value.Length - (i * chunkSize)))));
            }
        }

        var cookies = new List<string>();
        foreach (var stale in Present(request, [name]))
        {
            if (!chunks.Exists(c => c.Key == stale))
            {
                cookies.Add(Clear(stale));
            }
        }

        foreach (var (chunkName, chunkValue) in chunks)
        {
            cookies.Add(SetCookie(chunkName, chunkValue, expires));
        }

        return cookies;
    }

    private static List<string> Cleared(SessionRequest request, IEnumerable<string> names) =>
        [.. Present(request, names).Select(Clear)];

    /// <summary>The request's cookies that belong to these session cookies, as <c>SessionStore</c> collects them: by name prefix, non-empty.</summary>
    private static List<string> Present(SessionRequest request, IEnumerable<string> names)
    {
        var prefixes = names.ToArray();
        var present = new List<string>();
        foreach (var (name, value) in CookieReader.Enumerate(request))
        {
            if (value.Length > 0 && Array.Exists(prefixes, p => name.StartsWith(p, StringComparison.Ordinal)) && !present.Contains(name))
            {
                present.Add(name);
            }
        }

        return present;
    }

    private IEnumerable<string> DatabaseNames() =>
        _options.Database.CookieName is { Length: > 0 } custom ? [custom] : SessionKeys.StandardCookieNames;

    // Attribute order as Auth.js' cookie serializer writes them.
    private static string SetCookie(string name, string value, DateTimeOffset expires) =>
        $"{name}={Uri.EscapeDataString(value)}; Path=/; Expires={expires.UtcDateTime.ToString("r", CultureInfo.InvariantCulture)}; HttpOnly{SecureAttribute(name)}; SameSite=Lax";

    private static string Clear(string name) =>
        $"{name}=; Max-Age=0; Path=/; HttpOnly{SecureAttribute(name)}; SameSite=Lax";

    // Auth.js marks its cookies Secure exactly when it gives them the __Secure- prefix (useSecureCookies).
    private static string SecureAttribute(string name) =>
        name.StartsWith("__Secure-", StringComparison.Ordinal) || name.StartsWith("__Host-", StringComparison.Ordinal) ? "; Secure" : string.Empty;
}
