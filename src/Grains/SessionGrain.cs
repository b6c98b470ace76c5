using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Client.Internals;
using SessionCache.Contracts;

namespace SessionCache.Grains;

/// <summary>
/// One session, keyed by the hash of its credential. Orleans runs one activation per key and one
/// call at a time, so concurrent lookups queue behind the first, which resolves; the rest read
/// its answer. The answer is kept until the earliest of the session's expiry, the token's expiry
/// and <see cref="SessionCacheOptions.MaxCacheAge"/>, when a timer deactivates the grain. A cached
/// session is served only while no sign-out notice since its admission could concern it and this
/// silo holds its lease from a relay; otherwise the user's grain is asked again. So a
/// sign-out holds even where the user's grain could not reach this grain to make it forget.
/// </summary>
internal sealed partial class SessionGrain : Grain, ISessionGrain
{
    private readonly ISessionResolver _resolver;
    private readonly SessionCacheOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly NearCache _notices;
    private readonly SessionCacheMetrics _metrics;
    private readonly NegativeAnswers _negativeAnswers;
    private readonly bool _cheapToResolve;
    private CachedLookup? _cachedLookup;
    private string? _userKey;
    private bool _holdsNegative;
    private readonly SessionExpiry _expiry;

    // The notice epoch at which the user's grain last admitted the cached session.
    private long _admittedEpoch;

    // When the resolution that produced the cached session began: the session existed then.
    private DateTimeOffset _existedAt;

    // Bumped by ForgetAsync, which interleaves, and by a sign-out: a resolution that overlapped
    // either (a background refresh included) must not cache.
    private int _forgets;

    // When the cached answer was resolved, and until when a session is kept to fall back on
    // while upstream fails (its cache age plus FailSafeMaxAge, never past its own expiry).
    private DateTimeOffset _refreshAt;

    // The cached session as callers (near caches) may keep it: until its refresh is due. Made
    // once per resolution, not per lookup.
    private CachedLookup? _untilRefresh;
    private DateTimeOffset _keepUntil;
    private bool _refreshing;
    private Task? _refresh;

    // While upstream fails, a fail-safe answer is given for this long before upstream is asked again.
    private static readonly TimeSpan FailSafeRetryEvery = TimeSpan.FromSeconds(5);

    public SessionGrain(
        [FromKeyedServices(AuthJsServiceCollectionExtensions.DirectResolverKey)] ISessionResolver resolver,
        IOptions<SessionCacheOptions> options,
        NearCache notices,
        IServiceProvider services,
        SessionCacheMetrics metrics,
        NegativeAnswers negativeAnswers,
        SessionExpiry expiry,
        ILogger<SessionGrain> logger)
    {
        _expiry = expiry;
        _notices = notices;
        _negativeAnswers = negativeAnswers;
        _metrics = metrics;
        _resolver = resolver;
        _options = options.Value;
        _clock = SessionCacheClock.Get(services);

        // Decoding a JWT locally costs less than keeping its refusal: junk is refused afresh. Not so
        // where the app's callbacks run: a token they refuse could take their whole time limit again.
        _cheapToResolve = _options.Mode == SessionResolutionMode.Local && _options.Strategy == SessionStrategy.Jwt
            && string.IsNullOrEmpty(_options.CallbacksModule);
        _logger = logger;
    }

    /// <summary>The second (Unix time) <see cref="SessionExpiry"/> has this grain down for, 0 for none; guarded by its lock.</summary>
    internal long ExpirySecond { get; set; }

    private string Key => this.GetPrimaryKeyString();

    /// <summary>The cached answer; setting it keeps the silo's count of live sessions.</summary>
    private CachedLookup? Cached
    {
        get => _cachedLookup;
        set
        {
            var wasSession = _cachedLookup?.Result.Status == SessionLookupStatus.Session;
            var isSession = value?.Result.Status == SessionLookupStatus.Session;
            if (wasSession != isSession)
            {
                _metrics.LiveSessionsChanged(isSession ? 1 : -1);
            }

            _cachedLookup = value;
            _userKey = value?.Result.UserId is { } userId ? SessionKeys.UserKeyOf(userId) : null;

            // Made for the answer it was made from, and only that one (a revocation replaces it).
            _untilRefresh = null;
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _expiry.Cancel(this);
        Cached = null;
        if (_holdsNegative)
        {
            _negativeAnswers.Release();
            _holdsNegative = false;
        }

        return Task.CompletedTask;
    }

    public async Task<CachedLookup> LookupAsync(SessionCredential credential)
    {
        // Checked on every call, not only by the timer: a lookup that races a late timer must
        // still never see an answer past its time.
        var now = _clock.GetUtcNow();
        if (Cached is { } cached && now < cached.CacheUntil)
        {
            if (cached.Result.Status != SessionLookupStatus.Session
                || _notices.IsStillValid(_admittedEpoch, Key, _userKey))
            {
                _metrics.GrainAnswered(resolved: false);
                RefreshIfDue(credential, cached, now);
                return ForCallers(cached, now);
            }

            // A sign-out since may concern this session, or this silo may have missed one (cut off
            // from its relay, or paused): the user's grain decides, without resolving again. A
            // session without a user id has no such grain; it is resolved again below.
            if (cached.Result.UserId is not null)
            {
                _metrics.GrainAnswered(resolved: false);
                return ForCallers(await ReadmitAsync(cached), now);
            }
        }

        // A refresh still running when the cache age ends gives this lookup its answer: one
        // resolution, not two.
        if (_refresh is { IsCompleted: false } refresh)
        {
            await refresh;
            return await LookupAsync(credential);
        }

        // Past its cache age, a session is still what to fall back on while upstream fails.
        var fallback = _options.FailSafeMaxAge > TimeSpan.Zero && Cached is { Result.Status: SessionLookupStatus.Session } stale && now < _keepUntil ? stale : null;
        Cached = null;
        return ForCallers(await ResolveAsync(credential, fallback, refreshing: false), _clock.GetUtcNow());
    }

    /// <summary>
    /// Resolves, has the user's grain admit a session, and keeps the answer. With a
    /// <paramref name="fallback"/>, an upstream error serves it instead (fail-safe); when
    /// <paramref name="refreshing"/>, an upstream error changes nothing.
    /// </summary>
    private async Task<CachedLookup> ResolveAsync(SessionCredential credential, CachedLookup? fallback, bool refreshing)
    {
        var forgets = _forgets;
        var existedAt = _clock.GetUtcNow();
        _metrics.GrainAnswered(resolved: true);
        var result = await _resolver.LookupAsync(credential.ToRequest());
        var now = _clock.GetUtcNow();
        if (result.Status == SessionLookupStatus.UpstreamError)
        {
            if (fallback is not null && forgets == _forgets)
            {
                return await FailSafeAsync(fallback, now);
            }

            if (refreshing)
            {
                return Cached ?? new CachedLookup(result, now);
            }
        }

        if (refreshing && forgets != _forgets)
        {
            // Signed out while the refresh ran: what it found must not be kept.
            return new CachedLookup(result, now);
        }

        var validUntil = ValidUntil(result, now);
        var epoch = _notices.Epoch;
        if (result.Status == SessionLookupStatus.Session && result.UserId is { } userId
            && !await GrainFactory.GetGrain<IUserGrain>(SessionKeys.UserKeyOf(userId)).AdmitAsync(Key, SessionSignIn.Of(result), existedAt, validUntil))
        {
            LogRefusedRevoked(_logger, Key[..12]);
            result = SessionLookupResult.Revoked("the user or the session was signed out");
        }

        var cacheUntil = result.Status switch
        {
            SessionLookupStatus.Session => Min(validUntil, now + _options.MaxCacheAge),
            SessionLookupStatus.UpstreamError => now,
            SessionLookupStatus.Revoked => now + _options.NegativeCacheAge,

            // No session, expired, invalid: kept only where asking again costs a call upstream, and
            // only while the silo's budget for them lasts, so that distinct junk cookies cannot
            // pile up activations.
            _ when _cheapToResolve || _options.NegativeCacheAge <= TimeSpan.Zero || !HoldNegative() => now,
            _ => now + _options.NegativeCacheAge,
        };

        var lookup = new CachedLookup(result, cacheUntil);
        if (cacheUntil > now && forgets == _forgets)
        {
            Cached = lookup;
            _existedAt = existedAt;
            _admittedEpoch = epoch;
            _refreshAt = now + (_options.MaxCacheAge * _options.EagerRefresh);
            _untilRefresh = _options.EagerRefresh > 0 && result.Status == SessionLookupStatus.Session && _refreshAt < cacheUntil
                ? new CachedLookup(result, _refreshAt)
                : null;
            // Where resolving cannot fail (a plain local JWT decode), there is nothing to fall back from.
            _keepUntil = result.Status == SessionLookupStatus.Session && _options.FailSafeMaxAge > TimeSpan.Zero && !_cheapToResolve
                ? Min(validUntil, cacheUntil + _options.FailSafeMaxAge)
                : cacheUntil;
            ArmExpiry(_keepUntil - now);
            LogResolved(_logger, Key[..12], result.Status, cacheUntil - now);
        }
        else
        {
            // Nothing worth keeping (an upstream error is never cached), or signed out meanwhile:
            // free the activation.
            Cached = null;
            LogResolved(_logger, Key[..12], result.Status, TimeSpan.Zero);
            DeactivateOnIdle();
        }

        return lookup;
    }

    /// <summary>
    /// Upstream is failing and the session's cache age has run out: serves the session again if
    /// the user's grain still admits it, until upstream is asked again in a few seconds, and never
    /// past the session's own expiry or <c>FailSafeMaxAge</c>.
    /// </summary>
    private async Task<CachedLookup> FailSafeAsync(CachedLookup fallback, DateTimeOffset now)
    {
        var readmitted = fallback.Result.UserId is null ? fallback : await ReadmitAsync(fallback);
        if (readmitted.Result.Status != SessionLookupStatus.Session)
        {
            return readmitted;
        }

        var served = new CachedLookup(fallback.Result, Min(now + FailSafeRetryEvery, _keepUntil));
        Cached = served;
        ArmExpiry(_keepUntil - now);
        _metrics.FailSafeServed();
        LogFailSafe(_logger, Key[..12], _keepUntil - now);
        return served;
    }

    /// <summary>
    /// Past <c>EagerRefresh</c> of its cache age, a session in use is resolved again in the
    /// background; the cached one is served meanwhile, and replaced when the new one is admitted.
    /// </summary>
    private void RefreshIfDue(SessionCredential credential, CachedLookup cached, DateTimeOffset now)
    {
        if (_options.EagerRefresh <= 0 || _refreshing || cached.Result.Status != SessionLookupStatus.Session || now < _refreshAt)
        {
            return;
        }

        _refreshing = true;
        _refresh = RefreshAsync();

        async Task RefreshAsync()
        {
            try
            {
                await ResolveAsync(credential, fallback: null, refreshing: true);
            }
            catch (Exception exception)
            {
                // The cached session stays, until its time; the next lookup after it resolves.
                LogRefreshFailed(_logger, exception.GetType().Name);
            }
            finally
            {
                _refreshing = false;
            }
        }
    }

    /// <summary>
    /// What callers (near caches) may keep: a session only until its refresh is due, so that a
    /// lookup of a hot session reaches this grain in time to refresh it.
    /// </summary>
    private CachedLookup ForCallers(CachedLookup lookup, DateTimeOffset now) =>
        _untilRefresh is { } untilRefresh && now < _refreshAt && ReferenceEquals(lookup, Cached) ? untilRefresh : lookup;

    private async Task<CachedLookup> ReadmitAsync(CachedLookup cached)
    {
        var epoch = _notices.Epoch;
        var now = _clock.GetUtcNow();
        var result = cached.Result;
        if (await GrainFactory.GetGrain<IUserGrain>(SessionKeys.UserKeyOf(result.UserId!)).AdmitAsync(Key, SessionSignIn.Of(result), _existedAt, ValidUntil(result, now)))
        {
            _admittedEpoch = epoch;
            return Cached ?? cached;
        }

        LogRefusedRevoked(_logger, Key[..12]);
        var revoked = new CachedLookup(SessionLookupResult.Revoked("the user or the session was signed out"), now + _options.NegativeCacheAge);
        if (_options.NegativeCacheAge > TimeSpan.Zero)
        {
            Cached = revoked;
            ArmExpiry(_options.NegativeCacheAge);
        }
        else
        {
            Cached = null;
            DeactivateOnIdle();
        }

        return revoked;
    }

    public async Task<string?> RevokeAsync(SessionCredential credential, bool resolve)
    {
        // A background refresh that finishes after this must not bring the session back.
        _forgets++;
        var now = _clock.GetUtcNow();
        var held = Cached?.Result.Status == SessionLookupStatus.Session;
        var userId = held ? Cached!.Result.UserId : null;
        var signedInAt = held ? Cached!.Result.SignedInAt : null;
        var validUntil = Cached is { } cached ? ValidUntil(cached.Result, now) : now + _options.MaxCacheAge;
        if (userId is null && resolve)
        {
            // Learn whose session this is; without that the revocation could not outlive this grain.
            var result = await _resolver.LookupAsync(credential.ToRequest());
            if (result.Status == SessionLookupStatus.UpstreamError)
            {
                throw new SessionRevocationException("The session could not be resolved to sign it out: " + result.Reason);
            }

            userId = result.UserId;
            signedInAt = result.SignedInAt;
            held = result.Status == SessionLookupStatus.Session;
            validUntil = ValidUntil(result, now);
        }

        Cached = null;
        if (userId is not null)
        {
            await GrainFactory.GetGrain<IUserGrain>(SessionKeys.UserKeyOf(userId)).RevokeSessionAsync(Key, validUntil, signedInAt?.ToUnixTimeSeconds());
        }
        else
        {
            // Not a session, or one without a user id: there is nothing to remember, only copies to drop.
            await ServiceProvider.GetRequiredService<InvalidationFanOut>().PublishAsync(new InvalidationNotice(null, [Key]));
        }

        // One sign-out is tried under every cookie name; it counts where the session was.
        if (held)
        {
            _metrics.Invalidated(wholeUser: false);
        }

        DeactivateOnIdle();
        return held ? userId : null;
    }

    public Task ForgetAsync()
    {
        _forgets++;
        Cached = null;
        DeactivateOnIdle();
        return Task.CompletedTask;
    }

    /// <summary>Takes a place in the silo's budget for negative answers, held until this activation ends.</summary>
    private bool HoldNegative()
    {
        _holdsNegative = _holdsNegative || _negativeAnswers.TryTake();
        return _holdsNegative;
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    /// <summary>The earliest of the token's expiry and the session's own, as far as the result tells.</summary>
    private DateTimeOffset ValidUntil(SessionLookupResult result, DateTimeOffset now)
    {
        var until = now + _options.MaxCacheAge;
        if (result.ValidUntil is { } valid)
        {
            until = valid;
        }

        if (result.Session?.Expires is { } expires && expires < until)
        {
            until = expires;
        }

        return until;
    }

    private void ArmExpiry(TimeSpan due) => _expiry.Schedule(this, _clock.GetUtcNow() + due);

    /// <summary>Called by <see cref="SessionExpiry"/> once this grain's time has come, from outside its scheduler.</summary>
    internal void Expire() => GrainContext.Deactivate(new DeactivationReason(DeactivationReasonCode.ApplicationRequested, "the cached answer expired"));

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Session {SessionHash} served past its cache age: upstream is failing (fail-safe for at most {Remaining} more)")]
    private static partial void LogFailSafe(ILogger logger, string sessionHash, TimeSpan remaining);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Debug, Message = "A background refresh of a session failed ({Exception}); the cached session is served until its time")]
    private static partial void LogRefreshFailed(ILogger logger, string exception);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "Session {SessionHash} resolved: {Status}, kept for {Lifetime}")]
    private static partial void LogResolved(ILogger logger, string sessionHash, SessionLookupStatus status, TimeSpan lifetime);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Session {SessionHash} refused: its user or the session was signed out")]
    private static partial void LogRefusedRevoked(ILogger logger, string sessionHash);
}
