using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Contracts;

namespace SessionCache.Client.Internals;

/// <summary>
/// <see cref="ISessionCache"/> over the session grains, with this process' near cache in front.
/// The same code serves a co-hosted silo (local grain calls) and an external client (gateway calls).
/// </summary>
internal sealed partial class ClusterSessionCache : ISessionCache
{
    private readonly IGrainFactory _grains;
    private readonly SessionKeys _keys;
    private readonly NearCache _near;
    private readonly bool _nearEnabled;
    private readonly TimeProvider _clock;
    private readonly IHttpContextAccessor? _httpContextAccessor;
    private readonly ILogger _logger;

    public ClusterSessionCache(
        IGrainFactory grains,
        SessionKeys keys,
        NearCache near,
        IOptions<SessionCacheClientOptions> options,
        TimeProvider clock,
        ILogger<ClusterSessionCache> logger,
        IHttpContextAccessor? httpContextAccessor = null)
    {
        _grains = grains;
        _keys = keys;
        _near = near;
        _nearEnabled = options.Value.NearCache.Enabled;
        _clock = clock;
        _logger = logger;
        _httpContextAccessor = httpContextAccessor;
    }

    public ValueTask<SessionLookupResult> LookupAsync(SessionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (ReferenceEquals(request, SessionRequest.Current))
        {
            if (_httpContextAccessor?.HttpContext?.Request is not { } current)
            {
                return ValueTask.FromResult(SessionLookupResult.NoSession);
            }

            request = SessionRequest.FromHttpRequest(current);
        }

        var key = _keys.Select(request);
        switch (key.Kind)
        {
            case SessionKeyKind.None:
                return ValueTask.FromResult(SessionLookupResult.NoSession);
            case SessionKeyKind.TooLarge:
                return ValueTask.FromResult(SessionLookupResult.Invalid("cookie header too large"));
        }

        var now = _clock.GetUtcNow();
        if (_nearEnabled && _near.TryGet(key.Canonical, now, out var cached))
        {
            return ValueTask.FromResult(cached);
        }

        return LookupInClusterAsync(key, cancellationToken);
    }

    public async ValueTask InvalidateUserAsync(string userId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        if (userId.Length > SessionCacheLimits.MaxUserIdLength)
        {
            throw new ArgumentException($"A user id is at most {SessionCacheLimits.MaxUserIdLength} characters; got {userId.Length}.", nameof(userId));
        }

        await _grains.GetGrain<IUserGrain>(userId).RevokeAsync().WaitAsync(cancellationToken);
        LogUserInvalidated(_logger, SessionKeys.HashOf(userId)[..12]);
    }

    public async ValueTask InvalidateSessionAsync(string sessionToken, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionToken);
        if (sessionToken.Length > SessionCacheLimits.MaxTokenLength)
        {
            throw new ArgumentException($"A session token is at most {SessionCacheLimits.MaxTokenLength} characters; got {sessionToken.Length}.", nameof(sessionToken));
        }

        // The token alone does not say which cookie name carried it, and the name is part of the
        // key (it is the JWT salt); revoke it under each name a request could have used.
        var revocations = _keys.CookieNames.Select(name =>
        {
            var credential = new SessionCredential([new(name, sessionToken)], null);
            var canonical = string.Concat(name, "=", sessionToken, "\n");
            return _grains.GetGrain<ISessionGrain>(SessionKeys.HashOf(canonical)).RevokeAsync(credential, null);
        });

        try
        {
            await Task.WhenAll(revocations).WaitAsync(cancellationToken);
        }
        catch (SessionRevocationException exception)
        {
            throw new SessionUnavailableException(SessionLookupResult.UpstreamFailure(exception.Message, retryable: true));
        }
    }

    private async ValueTask<SessionLookupResult> LookupInClusterAsync(SessionKey key, CancellationToken cancellationToken)
    {
        var epoch = _near.Epoch;
        var hash = key.Hash;
        CachedLookup reply;
        try
        {
            reply = await _grains.GetGrain<ISessionGrain>(hash).LookupAsync(new SessionCredential(key.Cookies, key.Authorization)).WaitAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The cluster, not the session, is unavailable: that is never "no session".
            LogClusterCallFailed(_logger, hash[..12], exception.GetType().Name, exception.Message);
            return SessionLookupResult.UpstreamFailure("session cache cluster unavailable: " + exception.GetType().Name, retryable: true);
        }

        if (_nearEnabled)
        {
            _near.Add(key.Canonical, hash, reply, epoch, _clock.GetUtcNow());
        }

        return reply.Result;
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "Session lookup {SessionHash} failed in the cluster: {Exception}: {Reason}")]
    private static partial void LogClusterCallFailed(ILogger logger, string sessionHash, string exception, string reason);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "Signed out user {UserHash} across the cluster")]
    private static partial void LogUserInvalidated(ILogger logger, string userHash);
}
