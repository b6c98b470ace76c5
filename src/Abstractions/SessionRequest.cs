using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace SessionCache.AuthJs;

/// <summary>
/// The parts of a request that carry an Auth.js session: its cookies and its
/// <c>Authorization</c> header. Build one from whatever the caller holds.
/// </summary>
public sealed class SessionRequest
{
    private SessionRequest(string? cookieHeader, IReadOnlyList<KeyValuePair<string, string>>? cookies, string? authorization)
    {
        CookieHeader = cookieHeader;
        Cookies = cookies;
        Authorization = authorization;
    }

    /// <summary>The raw <c>Cookie</c> header, when the request was given as headers.</summary>
    public string? CookieHeader { get; }

    /// <summary>Cookies given as name/value pairs (already decoded), when the request was given that way.</summary>
    public IReadOnlyList<KeyValuePair<string, string>>? Cookies { get; }

    /// <summary>The raw <c>Authorization</c> header, if any.</summary>
    public string? Authorization { get; }

    /// <summary>A request without cookies or headers.</summary>
    public static SessionRequest Empty { get; } = new(null, null, null);

    /// <summary>
    /// Stands for "the request being handled now", resolved through <see cref="IHttpContextAccessor"/>
    /// by the registered resolver; outside a request it carries no session.
    /// </summary>
    public static SessionRequest Current { get; } = new(null, null, null);

    /// <summary>From a raw <c>Cookie</c> header value.</summary>
    /// <param name="cookieHeader">The header value; <see langword="null"/> or empty for none.</param>
    /// <param name="authorization">An optional <c>Authorization</c> header value.</param>
    /// <returns>The request.</returns>
    public static SessionRequest FromCookieHeader(string? cookieHeader, string? authorization = null) =>
        new(cookieHeader, null, authorization);

    /// <summary>From cookie name/value pairs; the first pair of a name wins, as in a browser's header.</summary>
    /// <param name="cookies">The cookies.</param>
    /// <returns>The request.</returns>
    public static SessionRequest FromCookies(IEnumerable<KeyValuePair<string, string>> cookies)
    {
        ArgumentNullException.ThrowIfNull(cookies);
        return new(null, cookies.ToArray(), null);
    }

    /// <summary>From ASP.NET Core request headers.</summary>
    /// <param name="headers">The headers.</param>
    /// <returns>The request.</returns>
    public static SessionRequest FromHeaders(IHeaderDictionary headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        // HTTP/2 and HTTP/3 may split cookies over several header fields; RFC 9113 8.2.3 joins them with "; ".
        return new(JoinCookieFields(headers[HeaderNames.Cookie]), null, NullIfEmpty(headers[HeaderNames.Authorization].ToString()));
    }

    /// <summary>From <see cref="System.Net.Http"/> headers, such as <see cref="HttpRequestMessage.Headers"/>.</summary>
    /// <param name="headers">The headers.</param>
    /// <returns>The request.</returns>
    public static SessionRequest FromHeaders(HttpHeaders headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var cookie = headers.TryGetValues(HeaderNames.Cookie, out var cookieValues) ? JoinCookieFields(cookieValues.ToArray()) : null;
        var authorization = headers.TryGetValues(HeaderNames.Authorization, out var authValues) ? string.Join(", ", authValues) : null;
        return new(cookie, null, NullIfEmpty(authorization));
    }

    /// <summary>From an ASP.NET Core request.</summary>
    /// <param name="request">The request.</param>
    /// <returns>The session request.</returns>
    public static SessionRequest FromHttpRequest(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return FromHeaders(request.Headers);
    }

    /// <summary>From an outgoing or incoming <see cref="HttpRequestMessage"/>.</summary>
    /// <param name="request">The request.</param>
    /// <returns>The session request.</returns>
    public static SessionRequest FromHttpRequestMessage(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return FromHeaders(request.Headers);
    }

    private static string? JoinCookieFields(Microsoft.Extensions.Primitives.StringValues values) =>
        values.Count switch
        {
            0 => null,
            1 => values[0],
            _ => string.Join("; ", values.ToArray()),
        };

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
