using Microsoft.AspNetCore.Http;

namespace SessionCache.AuthJs;

/// <summary>
/// <c>GetServerSessionAsync(input)</c>, as Auth.js' <c>auth()</c> / <c>getServerSession()</c>: the
/// session, or <see langword="null"/> when the request carries none (no cookie, expired, invalid,
/// signed out). An upstream, database or cluster failure throws <see cref="SessionUnavailableException"/>
/// instead of pretending the user is signed out, unless <c>SessionCache:UpstreamErrors</c> is
/// <see cref="UpstreamErrorBehavior.Null"/>. <c>GetTokenAsync</c> is Auth.js' <c>getToken</c>.
/// </summary>
public static class SessionResolverExtensions
{
    /// <summary>The session of the request being handled (through <see cref="IHttpContextAccessor"/>); <see langword="null"/> outside a request.</summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The session or <see langword="null"/>.</returns>
    public static ValueTask<AuthJsSession?> GetServerSessionAsync(this ISessionResolver resolver, CancellationToken cancellationToken = default) =>
        resolver.GetServerSessionAsync(SessionRequest.Current, cancellationToken);

    /// <summary>The session of an ASP.NET Core request.</summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The session or <see langword="null"/>.</returns>
    public static ValueTask<AuthJsSession?> GetServerSessionAsync(this ISessionResolver resolver, HttpRequest request, CancellationToken cancellationToken = default) =>
        resolver.GetServerSessionAsync(SessionRequest.FromHttpRequest(request), cancellationToken);

    /// <summary>The session carried by ASP.NET Core request headers.</summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="headers">The headers.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The session or <see langword="null"/>.</returns>
    public static ValueTask<AuthJsSession?> GetServerSessionAsync(this ISessionResolver resolver, IHeaderDictionary headers, CancellationToken cancellationToken = default) =>
        resolver.GetServerSessionAsync(SessionRequest.FromHeaders(headers), cancellationToken);

    /// <summary>The session carried by an <see cref="HttpRequestMessage"/>.</summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="request">The request message.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The session or <see langword="null"/>.</returns>
    public static ValueTask<AuthJsSession?> GetServerSessionAsync(this ISessionResolver resolver, HttpRequestMessage request, CancellationToken cancellationToken = default) =>
        resolver.GetServerSessionAsync(SessionRequest.FromHttpRequestMessage(request), cancellationToken);

    /// <summary>The session carried by a raw <c>Cookie</c> header.</summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="cookieHeader">The <c>Cookie</c> header value.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The session or <see langword="null"/>.</returns>
    public static ValueTask<AuthJsSession?> GetServerSessionAsync(this ISessionResolver resolver, string? cookieHeader, CancellationToken cancellationToken = default) =>
        resolver.GetServerSessionAsync(SessionRequest.FromCookieHeader(cookieHeader), cancellationToken);

    /// <summary>The session carried by cookie name/value pairs.</summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="cookies">The cookies.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The session or <see langword="null"/>.</returns>
    public static ValueTask<AuthJsSession?> GetServerSessionAsync(this ISessionResolver resolver, IEnumerable<KeyValuePair<string, string>> cookies, CancellationToken cancellationToken = default) =>
        resolver.GetServerSessionAsync(SessionRequest.FromCookies(cookies), cancellationToken);

    /// <summary>The session carried by a <see cref="SessionRequest"/>.</summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The session or <see langword="null"/>.</returns>
    /// <exception cref="SessionUnavailableException">The upstream server or the database failed.</exception>
    public static async ValueTask<AuthJsSession?> GetServerSessionAsync(this ISessionResolver resolver, SessionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        var result = await resolver.LookupAsync(request, cancellationToken);
        return result.Status switch
        {
            SessionLookupStatus.Session => result.Session,
            SessionLookupStatus.UpstreamError when resolver.UpstreamErrors == UpstreamErrorBehavior.Throw => throw new SessionUnavailableException(result),
            _ => null,
        };
    }

    /// <summary>
    /// Auth.js' <c>getToken</c> for the request being handled (through <see cref="IHttpContextAccessor"/>):
    /// the decoded JWT payload, every claim, before the app's <c>jwt</c> callback.
    /// </summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The token, or <see langword="null"/> (see <see cref="GetTokenAsync(ISessionResolver, SessionRequest, CancellationToken)"/>).</returns>
    /// <exception cref="SessionUnavailableException">Resolution failed and <c>SessionCache:UpstreamErrors</c> is <c>Throw</c>.</exception>
    public static ValueTask<AuthJsToken?> GetTokenAsync(this ISessionResolver resolver, CancellationToken cancellationToken = default) =>
        resolver.GetTokenAsync(SessionRequest.Current, cancellationToken);

    /// <summary>Auth.js' <c>getToken</c> for an ASP.NET Core request.</summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The token, or <see langword="null"/> (see <see cref="GetTokenAsync(ISessionResolver, SessionRequest, CancellationToken)"/>).</returns>
    /// <exception cref="SessionUnavailableException">Resolution failed and <c>SessionCache:UpstreamErrors</c> is <c>Throw</c>.</exception>
    public static ValueTask<AuthJsToken?> GetTokenAsync(this ISessionResolver resolver, HttpRequest request, CancellationToken cancellationToken = default) =>
        resolver.GetTokenAsync(SessionRequest.FromHttpRequest(request), cancellationToken);

    /// <summary>
    /// Auth.js' <c>getToken</c>: the decoded JWT payload of the request's session (from the session
    /// cookie, chunks joined, else <c>Authorization: Bearer</c>), every claim as the token holds it,
    /// before the app's <c>jwt</c> callback. Resolved and cached with the session: no second decode.
    /// <see langword="null"/> when the request carries no valid, unrevoked token, and always in proxy
    /// mode and for database sessions, where no JWT exists on this side.
    /// </summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The token or <see langword="null"/>.</returns>
    /// <exception cref="SessionUnavailableException">Resolution failed and <c>SessionCache:UpstreamErrors</c> is <c>Throw</c>.</exception>
    public static async ValueTask<AuthJsToken?> GetTokenAsync(this ISessionResolver resolver, SessionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        var result = await resolver.LookupAsync(request, cancellationToken);
        return result.Status switch
        {
            SessionLookupStatus.Session => result.Token,
            SessionLookupStatus.UpstreamError when resolver.UpstreamErrors == UpstreamErrorBehavior.Throw => throw new SessionUnavailableException(result),
            _ => null,
        };
    }

    /// <summary>Auth.js' <c>getToken({ raw: true })</c> for an ASP.NET Core request.</summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="request">The request.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The token string, or <see langword="null"/> (see <see cref="GetRawTokenAsync(ISessionResolver, SessionRequest, CancellationToken)"/>).</returns>
    /// <exception cref="SessionUnavailableException">Resolution failed and <c>SessionCache:UpstreamErrors</c> is <c>Throw</c>.</exception>
    public static ValueTask<string?> GetRawTokenAsync(this ISessionResolver resolver, HttpRequest request, CancellationToken cancellationToken = default) =>
        resolver.GetRawTokenAsync(SessionRequest.FromHttpRequest(request), cancellationToken);

    /// <summary>
    /// Auth.js' <c>getToken({ raw: true })</c>: the encrypted token string of the request's session
    /// (the cookie's chunks joined, or the bearer token decoded), for forwarding it. Unlike Auth.js,
    /// which returns whatever string the request carries, this answers only for a valid, unrevoked
    /// token, and <see langword="null"/> otherwise, in proxy mode and for database sessions.
    /// </summary>
    /// <param name="resolver">The resolver.</param>
    /// <param name="request">The request; <see cref="SessionRequest.Current"/> is not accepted, since the string is read from the request itself.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The token string or <see langword="null"/>.</returns>
    /// <exception cref="ArgumentException"><paramref name="request"/> is <see cref="SessionRequest.Current"/>.</exception>
    /// <exception cref="SessionUnavailableException">Resolution failed and <c>SessionCache:UpstreamErrors</c> is <c>Throw</c>.</exception>
    public static async ValueTask<string?> GetRawTokenAsync(this ISessionResolver resolver, SessionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (ReferenceEquals(request, SessionRequest.Current))
        {
            throw new ArgumentException("GetRawTokenAsync reads the token from the request: pass the HttpRequest or a SessionRequest made from it.", nameof(request));
        }

        if (await resolver.GetTokenAsync(request, cancellationToken) is not { } token)
        {
            return null;
        }

        if (token.CookieName is { } cookieName)
        {
            var value = Internals.CookieReader.ReadSessionToken(request, cookieName);
            return value.Length > 0 ? value : null;
        }

        // getToken's "Authorization: Bearer <url-encoded token>".
        var parts = request.Authorization?.Split(' ');
        return parts is { Length: > 1 } && Internals.UriComponent.TryDecode(parts[1], out var bearer) && bearer.Length > 0 ? bearer : null;
    }
}
