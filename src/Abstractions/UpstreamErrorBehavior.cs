namespace SessionCache.AuthJs;

/// <summary>
/// What <c>GetServerSessionAsync</c> and <c>GetTokenAsync</c> do when a session could not be
/// resolved (the upstream Auth.js server, the database or the cluster failed):
/// <c>SessionCache:UpstreamErrors</c>. The detailed <see cref="ISessionResolver.LookupAsync"/>
/// always reports <see cref="SessionLookupStatus.UpstreamError"/>, and such failures are never cached.
/// </summary>
public enum UpstreamErrorBehavior
{
    /// <summary>Throw <see cref="SessionUnavailableException"/>, so that a failure is never taken for "signed out" (default).</summary>
    Throw,

    /// <summary>Answer <see langword="null"/>, as the Auth.js-based <c>getServerSession</c> documents.</summary>
    Null,
}
