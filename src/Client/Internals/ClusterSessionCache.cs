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
    private readonly SessionCacheMetrics _metrics;
    private readonly ILogger _logger;

    // With Orleans' failure detection as tuned (a dead silo is declared dead within about 6 s),
    // five tries over about 4 s of back-off plus the calls' own time outlast one silo's death.
    private const int SignOutAttempts = 5;

    // A sign-out legitimately waits up to one lease for a process it cannot reach, plus the attempt
    // to tell it. An attempt that takes longer was sent to a silo that died with it (a request
    // forwarded by a gateway to a silo that then crashed is never answered): try again.
    private static readonly TimeSpan SignOutMargin = TimeSpan.FromSeconds(10);
    private readonly TimeSpan _signOutAttemptTimeout;

    // The cookie names a token to sign out is tried under, likeliest first: a renamed cookie
    // (configured for a reason), then Auth.js v5's, then NextAuth.js v4's.
    private readonly string[] _signOutNames;

    // A lookup keeps trying a failed silo's session this long: failure detection as tuned declares
    // a dead silo dead in about 6 s, and a session answered within 10 s of a crash is the target.
    private const long LookupRetryWindowMs = 8_000;

    // A user's sign-outs are kept until a notice concerns the user (the near cache's own rule),
    // and at most this long, so that a process that missed notices while it held its lease converges.
    private static readonly TimeSpan SignOutStatusLifetime = TimeSpan.FromMinutes(5);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CachedSignOuts> _signOuts = new(StringComparer.Ordinal);
    private readonly int _maxSignOutStatuses;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<UInt128, InFlightLookup> _inFlight = new();

    public ClusterSessionCache(
        IGrainFactory grains,
        SessionKeys keys,
        NearCache near,
        IOptions<SessionCacheClientOptions> options,
        TimeProvider clock,
        SessionCacheMetrics metrics,
        ILogger<ClusterSessionCache> logger,
        IHttpContextAccessor? httpContextAccessor = null)
    {
        _grains = grains;
        _keys = keys;
        _near = near;
        _nearEnabled = options.Value.NearCache.Enabled;
        UpstreamErrors = options.Value.UpstreamErrors;
        _maxSignOutStatuses = options.Value.NearCache.MaxEntries;
        _signOutAttemptTimeout = options.Value.NearCache.Lease + SignOutMargin;
        _signOutNames = [.. keys.CookieNames.OrderBy(SignOutRank)];
        _clock = clock;
        _metrics = metrics;
        _logger = logger;
        _httpContextAccessor = httpContextAccessor;
    }

    public UpstreamErrorBehavior UpstreamErrors { get; }

    public ValueTask<SessionLookupResult> LookupAsync(SessionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var started = SessionCacheMetrics.Start();
        if (ReferenceEquals(request, SessionRequest.Current))
        {
            if (_httpContextAccessor?.HttpContext?.Request is not { } current)
            {
                return Answered(SessionLookupResult.NoSession, started);
            }

            request = SessionRequest.FromHttpRequest(current);
        }

        // The common request (one whole session cookie) is keyed from the header in place: a hit
        // costs a walk of it and a hash, no allocation. Everything else goes the general way.
        UInt128? locatedKey = null;
        if (_nearEnabled && request.Cookies is null && request.CookieHeader is { } header
            && _keys.TryLocateSingleSessionCookie(header, out var cookieName, out var valueStart, out var valueLength))
        {
            locatedKey = _near.KeyOf(cookieName, header.AsSpan(valueStart, valueLength));
            if (_near.TryGet(locatedKey.Value, _clock.GetUtcNow(), out var hit))
            {
                _metrics.LookupCompleted(started, nearHit: true);
                return ValueTask.FromResult(hit);
            }
        }

        var key = _keys.Select(request);
        switch (key.Kind)
        {
            case SessionKeyKind.None:
                return Answered(SessionLookupResult.NoSession, started);
            case SessionKeyKind.TooLarge:
                return Answered(SessionLookupResult.Invalid("cookie header too large"), started);
        }

        // A located request missed above, under the key its canonical form hashes to.
        var nearKey = locatedKey ?? (_nearEnabled ? _near.KeyOf(key.Canonical) : default);
        if (locatedKey is null && _nearEnabled && _near.TryGet(nearKey, _clock.GetUtcNow(), out var cached))
        {
            _metrics.LookupCompleted(started, nearHit: true);
            return ValueTask.FromResult(cached);
        }

        return LookupInClusterAsync(key, nearKey, started, cancellationToken);
    }

    private ValueTask<SessionLookupResult> Answered(SessionLookupResult result, long started)
    {
        _metrics.LookupCompleted(started, nearHit: false);
        return ValueTask.FromResult(result);
    }

    public async ValueTask InvalidateUserAsync(string userId, CancellationToken cancellationToken = default)
    {
        CheckUserId(userId);

        var userKey = SessionKeys.UserKeyOf(userId);
        await RetryTransientAsync(() => _grains.GetGrain<IUserGrain>(userKey).RevokeAsync(userId), cancellationToken);
        LogUserInvalidated(_logger, userKey[..12]);
    }

    public async ValueTask InvalidateSessionAsync(string sessionToken, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionToken);
        if (sessionToken.Length > SessionCacheLimits.MaxTokenLength)
        {
            throw new ArgumentException($"A session token is at most {SessionCacheLimits.MaxTokenLength} characters; got {sessionToken.Length}.", nameof(sessionToken));
        }

        // The token alone does not say which cookie name carried it, and the name is part of the
        // key (it is the JWT salt); revoke it under each name a request could have used. Under
        // the likeliest names first, one at a time, resolving, until a grain finds the session;
        // under the remaining names only what is cached is revoked, so that a sign-out asks
        // Auth.js or the database no more often than the token's name requires.
        Task<string?> RevokeUnder(string name, bool resolve)
        {
            var credential = new SessionCredential([new(name, sessionToken)], null);
            var canonical = string.Concat(name, "=", sessionToken, "\n");
            return RetryTransientAsync(() => _grains.GetGrain<ISessionGrain>(SessionKeys.HashOf(canonical)).RevokeAsync(credential, resolve), cancellationToken);
        }

        string? userId = null;
        var tried = 0;
        while (userId is null && tried < _signOutNames.Length)
        {
            userId = await RevokeUnder(_signOutNames[tried++], resolve: true);
        }

        await Task.WhenAll(_signOutNames.Skip(tried).Select(name => RevokeUnder(name, resolve: false)));
    }

    /// <summary>
    /// Runs a sign-out again when the cluster lost the silo it was sent to (the grain comes back on
    /// another one): sign-outs are idempotent, and a caller should not see a failure the cluster
    /// recovers from in seconds. Gives up after <see cref="SignOutAttempts"/> tries or on cancellation.
    /// Whatever else fails (grain storage unreachable, the session's upstream down, the cluster gone)
    /// becomes the one documented <see cref="SessionUnavailableException"/>: the caller tries again.
    /// </summary>
    private async Task RetryTransientAsync(Func<Task> signOut, CancellationToken cancellationToken) =>
        await RetryTransientAsync(async () =>
        {
            await signOut();
            return true;
        }, cancellationToken);

    private async Task<T> RetryTransientAsync<T>(Func<Task<T>> signOut, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await signOut().WaitAsync(_signOutAttemptTimeout, cancellationToken);
            }
            catch (Exception exception) when (attempt < SignOutAttempts && IsTransient(exception) && !cancellationToken.IsCancellationRequested)
            {
                LogSignOutRetried(_logger, exception.GetType().Name, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), cancellationToken);
            }
            catch (Exception exception) when (exception is SessionRevocationException or GrainStorageUnavailableException)
            {
                // Our own messages: they say what failed and hold no user id or token.
                LogSignOutFailed(_logger, attempt, exception.Message);
                throw new SessionUnavailableException(exception.Message + "; sign-outs are idempotent, try again.", isRetryable: true);
            }
            catch (Exception exception) when (exception is not ArgumentException && !(exception is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                var failure = ExceptionNames.Chain(exception);
                LogSignOutFailed(_logger, attempt, failure);
                throw new SessionUnavailableException(
                    $"The sign-out could not be completed ({failure}); sign-outs are idempotent, try again.",
                    isRetryable: true,
                    exception);
            }
        }
    }

    private static int SignOutRank(string name) => name switch
    {
        "authjs.session-token" => 1,
        "__Secure-authjs.session-token" => 2,
        "next-auth.session-token" => 3,
        "__Secure-next-auth.session-token" => 4,
        _ => 0,
    };

    private static bool IsTransient(Exception exception) =>
        exception is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException
        || (exception is OrleansException && exception.InnerException is not null && IsTransient(exception.InnerException));

    public async ValueTask<bool> IsSignedOutAsync(string userId, DateTimeOffset signedInAt, CancellationToken cancellationToken = default)
    {
        CheckUserId(userId);

        var userKey = SessionKeys.UserKeyOf(userId);
        var statusKey = SessionKeys.SignOutStatusKeyOf(userKey);
        var seconds = signedInAt.ToUnixTimeSeconds();
        var now = _clock.GetUtcNow();
        if (_nearEnabled && _signOuts.TryGetValue(userKey, out var cached) && now < cached.Until && _near.IsStillValid(cached.Epoch, statusKey, userKey))
        {
            return cached.SignOuts.Cover(seconds);
        }

        var epoch = _near.Epoch;
        UserSignOuts signOuts;
        try
        {
            signOuts = await _grains.GetGrain<IUserGrain>(userKey).GetSignOutsAsync().WaitAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // By type only, as lookups: the user's grain's own messages can name the user.
            var failure = ExceptionNames.Chain(exception);
            LogClusterCallFailed(_logger, userKey[..12], failure);
            throw new SessionUnavailableException($"The user's sign-outs could not be read from the cluster ({failure}); try again.", isRetryable: true, exception);
        }

        if (_nearEnabled)
        {
            if (_signOuts.Count >= _maxSignOutStatuses)
            {
                foreach (var (key, entry) in _signOuts)
                {
                    if (entry.Until <= now)
                    {
                        _signOuts.TryRemove(key, out _);
                    }
                }
            }

            if (_signOuts.Count < _maxSignOutStatuses)
            {
                _signOuts[userKey] = new CachedSignOuts(signOuts, epoch, now + SignOutStatusLifetime);
            }
        }

        return signOuts.Cover(seconds);
    }

    private async ValueTask<SessionLookupResult> LookupInClusterAsync(SessionKey key, UInt128 nearKey, long started, CancellationToken cancellationToken)
    {
        SessionLookupResult result;
        if (!_nearEnabled)
        {
            result = await CallClusterAsync(key, nearKey, epoch: 0, cancellationToken);
        }
        else
        {
            // Concurrent misses for one session (a page's parallel requests, a burst of new
            // visitors) share one grain call: the grain answers them one at a time otherwise. Only
            // a call started since the latest notice is joined, so no lookup that began after a
            // sign-out was confirmed here gets an answer the grain gave before it.
            var epoch = _near.Epoch;
            if (!_inFlight.TryGetValue(nearKey, out var flight) || flight.Epoch != epoch)
            {
                flight = new InFlightLookup(epoch, CallClusterAsync(key, nearKey, epoch, CancellationToken.None));
                if (_inFlight.TryAdd(nearKey, flight))
                {
                    _ = flight.Call.ContinueWith(
                        static (_, state) =>
                        {
                            var (inFlight, entry) = ((System.Collections.Concurrent.ConcurrentDictionary<UInt128, InFlightLookup>, KeyValuePair<UInt128, InFlightLookup>))state!;
                            inFlight.TryRemove(entry);
                        },
                        (_inFlight, KeyValuePair.Create(nearKey, flight)),
                        CancellationToken.None,
                        TaskContinuationOptions.ExecuteSynchronously,
                        TaskScheduler.Default);
                }
            }

            result = await flight.Call.WaitAsync(cancellationToken);
        }

        _metrics.LookupCompleted(started, nearHit: false);
        return result;
    }

    /// <summary>
    /// The session grain's answer, kept in the near cache (if it is on and no notice arrived since
    /// <paramref name="epoch"/>); a cluster that cannot answer is an upstream failure, never "no session".
    /// </summary>
    private async Task<SessionLookupResult> CallClusterAsync(SessionKey key, UInt128 nearKey, long epoch, CancellationToken cancellationToken)
    {
        var hash = key.Hash;
        var credential = new SessionCredential(key.Cookies, key.Authorization);
        var retryingSince = Environment.TickCount64;
        CachedLookup reply;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                reply = await _grains.GetGrain<ISessionGrain>(hash).LookupAsync(credential).WaitAsync(cancellationToken);
                break;
            }
            catch (Exception exception) when (IsTransient(exception) && Environment.TickCount64 - retryingSince < LookupRetryWindowMs && !cancellationToken.IsCancellationRequested)
            {
                // The silo holding the session died or is unreachable: once the cluster declares it
                // dead (seconds), the session is activated again on a live silo.
                LogLookupRetried(_logger, hash[..12], exception.GetType().Name, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 100 * attempt)), cancellationToken);
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // The cluster, not the session, is unavailable: that is never "no session".
                LogClusterCallFailed(_logger, hash[..12], ExceptionNames.Chain(exception));
                return SessionLookupResult.UpstreamFailure("session cache cluster unavailable: " + exception.GetType().Name, retryable: true);
            }
        }

        if (_nearEnabled)
        {
            _near.Add(nearKey, hash, reply, epoch, _clock.GetUtcNow());
        }

        return reply.Result;
    }

    private static void CheckUserId(string userId)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        if (userId.Length > SessionCacheLimits.MaxUserIdLength)
        {
            throw new ArgumentException($"A user id is at most {SessionCacheLimits.MaxUserIdLength} characters; got {userId.Length}.", nameof(userId));
        }
    }

    private sealed record CachedSignOuts(UserSignOuts SignOuts, long Epoch, DateTimeOffset Until);

    /// <summary>A grain call other lookups of the same session may share, started at the near cache's <paramref name="Epoch"/>.</summary>
    private sealed record InFlightLookup(long Epoch, Task<SessionLookupResult> Call);

    // By type only: a failure inside the session grain (its user grain's, say) can carry a message
    // that names the user.
    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "Session lookup {SessionHash} failed in the cluster: {Exception}")]
    private static partial void LogClusterCallFailed(ILogger logger, string sessionHash, string exception);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Debug, Message = "Session lookup {SessionHash} attempt {Attempt} failed in the cluster ({Exception}); retrying")]
    private static partial void LogLookupRetried(ILogger logger, string sessionHash, string exception, int attempt);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Sign-out attempt {Attempt} failed in the cluster ({Exception}); retrying")]
    private static partial void LogSignOutRetried(ILogger logger, string exception, int attempt);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Warning, Message = "Sign-out failed in the cluster after {Attempts} attempt(s): {Reason}")]
    private static partial void LogSignOutFailed(ILogger logger, int attempts, string reason);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Information, Message = "Signed out user {UserHash} across the cluster")]
    private static partial void LogUserInvalidated(ILogger logger, string userHash);
}
