namespace SessionCache.AuthJs;

/// <summary>
/// The session API of the cluster: lookups served from the session grains (and this process'
/// near cache), and sign-outs that reach every silo and client. The same interface is offered by
/// a silo co-hosted in a web app and by the client library.
/// </summary>
/// <remarks>
/// <see cref="ISessionResolver.LookupAsync"/> gives the detailed result; the
/// <c>GetServerSessionAsync</c> extension methods give the session or <see langword="null"/>, as
/// Auth.js' <c>auth()</c> does.
/// </remarks>
public interface ISessionCache : ISessionResolver
{
    /// <summary>
    /// Signs a user out everywhere: every session of the user issued or first seen before this call
    /// is refused from now on, on every silo and client, in every mode. Succeeds for a user the
    /// cluster has never seen. When the returned task completes, no process serves those sessions.
    /// </summary>
    /// <param name="userId">The user id, as Auth.js reports it (<c>token.sub</c>, the adapter's <c>userId</c>).</param>
    /// <param name="cancellationToken">Stops waiting; the sign-out may still complete.</param>
    /// <returns>A task that completes once every process has forgotten the user's sessions.</returns>
    /// <exception cref="ArgumentException"><paramref name="userId"/> is empty or longer than <see cref="SessionCacheLimits.MaxUserIdLength"/>.</exception>
    /// <exception cref="SessionUnavailableException">The sign-out could not be completed (the cluster or its grain storage is unreachable); call again.</exception>
    ValueTask InvalidateUserAsync(string userId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Signs one session out: the session token (the value of the Auth.js session cookie, chunks
    /// joined, or the database adapter's <c>sessionToken</c>) is refused from now on. Succeeds for a
    /// token the cluster has never seen, or one that is not a session.
    /// </summary>
    /// <param name="sessionToken">The session token.</param>
    /// <param name="cancellationToken">Stops waiting; the sign-out may still complete.</param>
    /// <returns>A task that completes once every process has forgotten the session.</returns>
    /// <exception cref="ArgumentException"><paramref name="sessionToken"/> is empty or longer than <see cref="SessionCacheLimits.MaxTokenLength"/>.</exception>
    /// <exception cref="SessionUnavailableException">The sign-out could not be completed: the session had to be resolved to learn its user and the upstream failed, or the cluster or its grain storage is unreachable; call again.</exception>
    ValueTask InvalidateSessionAsync(string sessionToken, CancellationToken cancellationToken = default);

    /// <summary>
    /// Whether a sign-in of a user has been signed out through the cluster since: the user was
    /// signed out everywhere after <paramref name="signedInAt"/> (compared in whole seconds), or this
    /// very sign-in was signed out on its own. Answered by the user's grain and cached in this process
    /// until a sign-out concerns the user. This is what an Auth.js app's <c>jwt</c> callback asks
    /// (<c>POST /api/sessions/status</c>) to clear a signed-out cookie.
    /// </summary>
    /// <param name="userId">The user id, as Auth.js reports it (<c>token.sub</c>).</param>
    /// <param name="signedInAt">When the user signed in (the token's <c>auth_time</c>).</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns><see langword="true"/> when the sign-in must no longer be honoured.</returns>
    /// <exception cref="ArgumentException"><paramref name="userId"/> is empty or longer than <see cref="SessionCacheLimits.MaxUserIdLength"/>.</exception>
    /// <exception cref="SessionUnavailableException">The cluster could not answer; the caller decides what an unknown answer means.</exception>
    ValueTask<bool> IsSignedOutAsync(string userId, DateTimeOffset signedInAt, CancellationToken cancellationToken = default);
}
