namespace SessionCache.AuthJs;

/// <summary>
/// Resolves the Auth.js session a request carries. The session-resolution library resolves on
/// every call; the cluster offers the same interface over its cache.
/// </summary>
public interface ISessionResolver
{
    /// <summary>Resolves a request's session, telling apart every kind of outcome.</summary>
    /// <param name="request">The request's cookies and headers; <see cref="SessionRequest.Current"/> for the request being handled.</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    /// <returns>The outcome; never throws for bad cookies or an unreachable upstream.</returns>
    /// <exception cref="InvalidOperationException">No session resolution mode is configured.</exception>
    ValueTask<SessionLookupResult> LookupAsync(SessionRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// What <c>GetServerSessionAsync</c> and <c>GetTokenAsync</c> do when resolution failed
    /// (<c>SessionCache:UpstreamErrors</c>). Default <see cref="UpstreamErrorBehavior.Throw"/>.
    /// </summary>
    UpstreamErrorBehavior UpstreamErrors => UpstreamErrorBehavior.Throw;
}
