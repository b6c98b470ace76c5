using Microsoft.AspNetCore.Http;

namespace SessionCache.AuthJs;

/// <summary>
/// <c>GetServerSessionAsync(input)</c>, as Auth.js' <c>auth()</c> / <c>getServerSession()</c>: the
/// session, or <see langword="null"/> when the request carries none (no cookie, expired, invalid).
/// An upstream or database failure throws <see cref="SessionUnavailableException"/> instead of
/// pretending the user is signed out.
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
            SessionLookupStatus.UpstreamError => throw new SessionUnavailableException(result),
            _ => null,
        };
    }
}
