using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Storage;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Contracts;

namespace SessionCache.Grains;

/// <summary>
/// One user: the sessions the cluster has seen for them and their revocations, in grain storage so
/// that a sign-out outlives this activation (and, with persistent storage, the silo). It is needed
/// only when a session is resolved or signed out, not while sessions are served from cache, so an
/// idle one leaves memory after two minutes (Orleans' default is 15): its record stays in storage.
/// </summary>
[CollectionAgeLimit(Minutes = 2)]
internal sealed partial class UserGrain(
    [PersistentState("user")] IPersistentState<UserState> state,
    IServiceProvider services,
    SessionCacheMetrics metrics,
    ILogger<UserGrain> logger) : Grain, IUserGrain
{
    // A revoked session is remembered at least this long: a database session can be extended
    // past the expiry the cluster saw, so its own expiry is not a safe bound.
    private static readonly TimeSpan RevocationRetention = TimeSpan.FromDays(30);

    // A signed-out sign-in is refused for this long after it was last presented: Auth.js rolls a
    // JWT forever while it is used, each copy valid for session.maxAge (30 days by default).
    private static readonly TimeSpan SignInRetention = TimeSpan.FromDays(400);

    // Sign-ins revoked one by one that a user's record keeps; each needs an authorised sign-out.
    private const int MaxRevokedSignIns = 1024;

    // Below Orleans' failure detection as tuned here (a silo is declared dead after several seconds).
    private static readonly TimeSpan StorageTouchInterval = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _clock = SessionCacheClock.Get(services);

    // Monotonic: when this activation last read or wrote its record (activation reads it).
    private long _storageTouchedAt = SessionCacheClock.Get(services).GetTimestamp();

    public async Task<bool> AdmitAsync(string sessionKey, SessionSignIn signIn, DateTimeOffset existedAt, DateTimeOffset validUntil)
    {
        await RefreshIfOutOfTouchAsync();

        var now = _clock.GetUtcNow();
        var changed = Prune(now);
        var sessions = state.State.Sessions;
        var revokedAt = state.State.RevokedAt;

        // A rolled copy of a session signed out on its own: Auth.js re-encoded it under a new key,
        // but it carries the same sign-in.
        var revokedSignIn = signIn.Stable is { } stable && state.State.RevokedSignIns.ContainsKey(stable);
        bool admitted;
        if (sessions.TryGetValue(sessionKey, out var known))
        {
            admitted = !known.Revoked && !revokedSignIn && !SignedInBefore(signIn.Effective ?? known.FirstSeen, revokedAt);
            if (admitted && validUntil > known.ValidUntil)
            {
                sessions[sessionKey] = known with { ValidUntil = validUntil };
                changed = true;
            }
        }
        else
        {
            // New to this user's record: refused if its user signed in before the revocation, or
            // if the resolution that found it had begun before it (the session existed then).
            admitted = !revokedSignIn && !SignedInBefore(signIn.Effective, revokedAt) && !(revokedAt is { } revoked && existedAt < revoked);

            // A refused session is remembered as revoked: resolved again later, it would look new.
            sessions[sessionKey] = admitted
                ? new UserSession(existedAt < now ? existedAt : now, validUntil, Revoked: false, signIn.Stable)
                : new UserSession(existedAt < now ? existedAt : now, Later(validUntil, now + RevocationRetention), Revoked: true, signIn.Stable);
            changed = true;
        }

        if (revokedSignIn)
        {
            // Still being presented: keep refusing it for as long again.
            state.State.RevokedSignIns[signIn.Stable!.Value] = now + SignInRetention;
            changed = true;
        }

        if (changed)
        {
            await WriteAsync();
        }

        return admitted;
    }

    public async Task<UserSignOuts> GetSignOutsAsync()
    {
        await RefreshIfOutOfTouchAsync();
        Prune(_clock.GetUtcNow());
        return new UserSignOuts(state.State.RevokedAt, [.. state.State.RevokedSignIns.Keys]);
    }

    /// <summary>
    /// Reads the record again when this activation has not touched storage for a while. A silo
    /// paused long enough to be declared dead still holds its old activations when it wakes, and the
    /// cluster may meanwhile have signed the user out through a new activation elsewhere: this one's
    /// memory would admit what storage refuses. Such a pause outlasts failure detection (seconds),
    /// so an activation in touch more recently than <see cref="StorageTouchInterval"/> cannot be one.
    /// Admissions and status queries are rare (never on a cache hit), so the read costs little.
    /// </summary>
    private async Task RefreshIfOutOfTouchAsync()
    {
        if (_clock.GetElapsedTime(_storageTouchedAt) > StorageTouchInterval)
        {
            await RefreshAsync();
        }
    }

    public async Task RevokeAsync(string userId)
    {
        // The id ends the user's database sessions: it must be the one this grain is for.
        if (!string.Equals(SessionKeys.UserKeyOf(userId), this.GetPrimaryKeyString(), StringComparison.Ordinal))
        {
            throw new ArgumentException("The user id is not the one this user grain is for.", nameof(userId));
        }

        var now = _clock.GetUtcNow();
        Prune(now);
        state.State.RevokedAt = now;
        var sessions = state.State.Sessions;
        var keys = sessions.Keys.ToArray();
        foreach (var key in keys)
        {
            sessions[key] = sessions[key] with { Revoked = true, ValidUntil = Later(sessions[key].ValidUntil, now + RevocationRetention) };
        }

        // Durable before it returns: once it does, the revocation survives whatever happens next.
        // The write and the notices go out together, so a sign-out costs the longer of the two,
        // not their sum; if the write fails the sign-out fails (and is retried), having only made
        // processes forget sooner. Meanwhile this grain, which is not reentrant, admits nothing.
        var durable = WriteAsync();

        // The publish is what the guarantee rests on: it returns once every process has
        // heard, or could no longer serve. Session grains that hear it ask this grain again before
        // serving, so making them forget only frees their memory sooner; one on a silo that
        // cannot be reached is not waited for.
        var forgets = Task.WhenAll(keys.Select(key => GrainFactory.GetGrain<ISessionGrain>(key).ForgetAsync()));
        _ = forgets.ContinueWith(
            static (task, state) => LogForgetFailed((ILogger)state!, task.Exception!.InnerException!.GetType().Name),
            logger,
            CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
        try
        {
            await ServiceProvider.GetRequiredService<InvalidationFanOut>().PublishAsync(new InvalidationNotice(this.GetPrimaryKeyString(), keys));
        }
        finally
        {
            await durable;
        }

        // After the cluster refuses the sessions, so that a database failure never leaves them
        // served; the sign-out fails (and is retried, idempotently) until the rows are gone too.
        await EndDatabaseSessionsAsync(userId);
        metrics.Invalidated(wholeUser: true);
        LogUserRevoked(logger, keys.Length);
    }

    private async Task EndDatabaseSessionsAsync(string userId)
    {
        if (services.GetService<SessionResolver>() is not { } resolver)
        {
            return;
        }

        try
        {
            await resolver.EndUserSessionsAsync(userId, CancellationToken.None);
        }
        catch (SessionStoreException exception)
        {
            throw new SessionRevocationException(exception.Message);
        }
    }

    public async Task RevokeSessionAsync(string sessionKey, DateTimeOffset validUntil, long? signedInAt)
    {
        var now = _clock.GetUtcNow();
        Prune(now);
        var sessions = state.State.Sessions;
        var firstSeen = sessions.TryGetValue(sessionKey, out var known) ? known.FirstSeen : now;
        sessions[sessionKey] = new UserSession(firstSeen, Later(validUntil, now + RevocationRetention), Revoked: true, signedInAt ?? known?.SignedInAt);

        // Every copy of the same sign-in goes with it: the ones already cached under other keys
        // (Auth.js re-encoded them) and the ones not yet presented.
        var keys = new List<string> { sessionKey };
        if ((signedInAt ?? known?.SignedInAt) is { } signIn)
        {
            RememberRevokedSignIn(signIn, now);
            foreach (var (key, session) in sessions.ToArray())
            {
                if (session.SignedInAt == signIn && key != sessionKey)
                {
                    sessions[key] = session with { Revoked = true, ValidUntil = Later(session.ValidUntil, now + RevocationRetention) };
                    keys.Add(key);
                }
            }

            // Processes that cached this user's sign-out status ask again.
            keys.Add(SessionKeys.SignOutStatusKeyOf(this.GetPrimaryKeyString()));
        }

        // As for the whole user: durable before it returns, written while the notices go out.
        var durable = WriteAsync();
        try
        {
            await ServiceProvider.GetRequiredService<InvalidationFanOut>().PublishAsync(new InvalidationNotice(null, [.. keys]));
        }
        finally
        {
            await durable;
        }
    }

    private void RememberRevokedSignIn(long signedInAt, DateTimeOffset now)
    {
        var revoked = state.State.RevokedSignIns;
        revoked[signedInAt] = now + SignInRetention;
        if (revoked.Count > MaxRevokedSignIns)
        {
            // Bounded: the oldest sign-ins are the likeliest to have expired on their own.
            foreach (var oldest in revoked.Keys.Order().Take(revoked.Count - MaxRevokedSignIns).ToArray())
            {
                revoked.Remove(oldest);
            }
        }
    }

    /// <summary>
    /// Reads the record again from storage. What this activation holds that storage lacks (a
    /// revocation whose write failed) is kept: a sign-out is never undone by a read. A read that
    /// fails fails the admission, never serves the session.
    /// </summary>
    private async Task RefreshAsync()
    {
        var held = state.State;
        try
        {
            await state.ReadStateAsync();
            _storageTouchedAt = _clock.GetTimestamp();
        }
        catch (Exception exception) when (exception is not InconsistentStateException)
        {
            var failure = ExceptionNames.Chain(exception);
            LogReadFailed(logger, failure);
            throw new GrainStorageUnavailableException($"The user's record could not be read from grain storage ({failure})");
        }

        var read = state.State;
        if (ReferenceEquals(held, read))
        {
            return;
        }

        if (held.RevokedAt > (read.RevokedAt ?? DateTimeOffset.MinValue))
        {
            read.RevokedAt = held.RevokedAt;
        }

        foreach (var (signIn, until) in held.RevokedSignIns)
        {
            read.RevokedSignIns[signIn] = read.RevokedSignIns.TryGetValue(signIn, out var stored) ? Later(stored, until) : until;
        }

        foreach (var (key, session) in held.Sessions)
        {
            if (session.Revoked || !read.Sessions.ContainsKey(key))
            {
                read.Sessions[key] = session;
            }
        }
    }

    /// <summary>
    /// Writes the record. A failed write leaves the change in memory: a revocation that refuses
    /// sessions before it is durable (the caller, told it failed, retries), or a session noted as
    /// seen. The failure reaches the caller as the one exception type every client can read.
    /// </summary>
    private async Task WriteAsync()
    {
        try
        {
            await state.WriteStateAsync();
            _storageTouchedAt = _clock.GetTimestamp();
        }
        catch (Exception exception) when (exception is not InconsistentStateException)
        {
            var failure = ExceptionNames.Chain(exception);
            LogWriteFailed(logger, failure);
            throw new GrainStorageUnavailableException($"The user's record could not be written to grain storage ({failure})");
        }
    }

    // Sign-in and issue times have whole seconds: compare at that precision, so that a sign-in in
    // the same second as the sign-out is not refused.
    private static bool SignedInBefore(DateTimeOffset? signedInAt, DateTimeOffset? revokedAt) =>
        signedInAt is { } signedIn && revokedAt is { } revoked
        && signedIn.ToUnixTimeSeconds() < revoked.ToUnixTimeSeconds();

    private static DateTimeOffset Later(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private bool Prune(DateTimeOffset now)
    {
        var sessions = state.State.Sessions;
        var expired = sessions.Where(s => s.Value.ValidUntil <= now).Select(static s => s.Key).ToList();
        foreach (var key in expired)
        {
            sessions.Remove(key);
        }

        var revokedSignIns = state.State.RevokedSignIns;
        var forgotten = revokedSignIns.Where(s => s.Value <= now).Select(static s => s.Key).ToList();
        foreach (var signIn in forgotten)
        {
            revokedSignIns.Remove(signIn);
        }

        return expired.Count > 0 || forgotten.Count > 0;
    }

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Some of a signed-out user's session grains could not be told to forget ({Exception}); they ask again before serving")]
    private static partial void LogForgetFailed(ILogger logger, string exception);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Warning, Message = "A user's record could not be written to grain storage ({Exception}); the sign-out or sign-in waiting on it fails and is retried")]
    private static partial void LogWriteFailed(ILogger logger, string exception);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "A user's record could not be read again from grain storage ({Exception}); the lookup waiting on it fails")]
    private static partial void LogReadFailed(ILogger logger, string exception);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "User signed out: {SessionCount} cached sessions dropped cluster-wide")]
    private static partial void LogUserRevoked(ILogger logger, int sessionCount);
}

/// <summary>A user's persisted record.</summary>
[GenerateSerializer]
internal sealed class UserState
{
    /// <summary>When the user was last signed out everywhere.</summary>
    [Id(0)]
    public DateTimeOffset? RevokedAt { get; set; }

    /// <summary>Session keys seen for the user, live or revoked.</summary>
    [Id(1)]
    public Dictionary<string, UserSession> Sessions { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Sign-ins (Unix seconds of the stable sign-in time) signed out one by one, and until when each is refused.</summary>
    [Id(2)]
    public Dictionary<long, DateTimeOffset> RevokedSignIns { get; set; } = [];
}

/// <summary>One session of a user, by key.</summary>
[GenerateSerializer, Immutable]
internal sealed record UserSession(
    [property: Id(0)] DateTimeOffset FirstSeen,
    [property: Id(1)] DateTimeOffset ValidUntil,
    [property: Id(2)] bool Revoked,
    [property: Id(3)] long? SignedInAt = null);
