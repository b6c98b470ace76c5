using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.Client;
using SessionCache.Contracts;

namespace SessionCache.Grains;

/// <summary>
/// Tells every process' near cache what to forget. A publish completes only when every subscriber
/// has acknowledged, or when the lease of a subscriber that could not be reached has run out (its
/// near cache stops serving then by itself). Reentrant, so that one slow publish does not hold up
/// renewals or other publishes.
/// </summary>
/// <remarks>
/// No subscriber can stretch a sign-out: the hub grants its own configured lease
/// (<c>SessionCache:NearCache:Lease</c>), whatever a subscriber would like; one process holds at
/// most <see cref="MaxSubscribersPerProcess"/> subscriptions; and a process that failed to
/// acknowledge is dropped and may not subscribe again for one lease, so that it delays at most one
/// sign-out by at most one lease, then none while it is out.
/// </remarks>
[Reentrant]
internal sealed partial class InvalidationHubGrain(
    [PersistentState("invalidation-hub")] IPersistentState<InvalidationHubState> state,
    IOptions<SessionCacheClientOptions> options,
    IServiceProvider services,
    ILogger<InvalidationHubGrain> logger) : Grain, IInvalidationHubGrain
{
    /// <summary>A process has one near cache; a few more allow for a client restarting in place.</summary>
    internal const int MaxSubscribersPerProcess = 4;

    /// <summary>Beyond this many processes something is wrong; refusing protects the hub's memory and every publish's fan-out.</summary>
    internal const int MaxSubscribers = 10_000;

    private static readonly TimeSpan MaxNotifyTimeout = TimeSpan.FromSeconds(5);

    // Leases run on real time, whatever clock sessions expire by.
    private readonly TimeProvider _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
    private readonly Dictionary<ISessionCacheObserver, Subscription> _subscribers = [];

    // Processes dropped for not acknowledging, and until when (hub timestamps) they stay out.
    private readonly Dictionary<string, long> _quarantined = new(StringComparer.Ordinal);
    private Guid _incarnation;
    // Monotonic timestamps (TimeProvider.GetTimestamp): a wall clock set back must not shorten a wait.
    private long _safeAfter;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A hub that existed before had subscribers this activation does not know. Until their
        // leases have run out, a publish waits for them rather than assume they heard it; when they
        // renew they see the new incarnation and empty their near caches.
        var previous = state.RecordExists;
        _safeAfter = previous ? _time.GetTimestamp() + ToTimestampTicks(options.Value.NearCache.Lease) : long.MinValue;
        _incarnation = Guid.NewGuid();
        state.State.Incarnation = _incarnation;
        await state.WriteStateAsync(cancellationToken);
        LogActivated(logger, _incarnation, previous);
    }

    public Task<SubscriptionAck> SubscribeAsync(ISessionCacheObserver observer)
    {
        var now = _time.GetTimestamp();
        var lease = options.Value.NearCache.Lease;
        var known = _subscribers.ContainsKey(observer);
        if (!known)
        {
            var process = ProcessOf(observer);
            if (_quarantined.TryGetValue(process, out var until))
            {
                if (now < until)
                {
                    // No lease: its near cache stays bypassed, so it needs no notice either.
                    throw new SubscriptionRefusedException("This process did not acknowledge a sign-out notice and may subscribe again after one lease; until then it serves no session from its near cache.");
                }

                _quarantined.Remove(process);
            }

            if (_subscribers.Count >= MaxSubscribers || _subscribers.Keys.Count(o => string.Equals(ProcessOf(o), process, StringComparison.Ordinal)) >= MaxSubscribersPerProcess)
            {
                LogSubscriptionRefused(logger, _subscribers.Count);
                throw new SubscriptionRefusedException($"The invalidation hub holds the most subscriptions it allows (at most {MaxSubscribersPerProcess} per process, {MaxSubscribers} in all).");
            }
        }

        _subscribers[observer] = new Subscription(now, lease);
        return Task.FromResult(new SubscriptionAck(_incarnation, known, lease));
    }

    public Task UnsubscribeAsync(ISessionCacheObserver observer)
    {
        _subscribers.Remove(observer);
        return Task.CompletedTask;
    }

    public async Task PublishAsync(InvalidationNotice notice)
    {
        // Two rounds. After the first, every process has heard, grain hosts included, so no
        // session grain answers from before the notice. But a near cache may have heard before the
        // silo it asked, and stored that silo's older answer; the second round sweeps it out (or
        // the near cache's epoch check does, the second notice having arrived mid-call).
        var waitUntil = _safeAfter;
        for (var round = 0; round < 2; round++)
        {
            waitUntil = Math.Max(waitUntil, await DeliverAsync(notice));
        }

        var wait = waitUntil == long.MinValue ? TimeSpan.Zero : _time.GetElapsedTime(_time.GetTimestamp(), waitUntil);
        if (wait > TimeSpan.Zero)
        {
            // Sessions are still servable from an unreachable near cache until its lease ends.
            await Task.Delay(wait, _time);
        }
    }

    /// <summary>Tells every subscriber; drops those it could not tell and returns when their leases end.</summary>
    private async Task<long> DeliverAsync(InvalidationNotice notice)
    {
        var subscribers = _subscribers.ToArray();

        // Never longer than a lease: waiting for the lease to end is the fallback anyway.
        var notifyTimeout = options.Value.NearCache.Lease < MaxNotifyTimeout ? options.Value.NearCache.Lease : MaxNotifyTimeout;
        var deliveries = subscribers.Select(s => s.Key.OnInvalidatedAsync(notice).WaitAsync(notifyTimeout)).ToArray();
        try
        {
            await Task.WhenAll(deliveries);
        }
        catch (Exception)
        {
            // Inspected per delivery below.
        }

        var waitUntil = long.MinValue;
        for (var i = 0; i < subscribers.Length; i++)
        {
            if (deliveries[i].IsCompletedSuccessfully)
            {
                continue;
            }

            // Dropped even if it renewed meanwhile (the renewal said nothing of this notice): its
            // next renewal learns that it was dropped and empties its cache. Until then it may
            // serve under whichever lease it holds, the one from before or from a renewal since.
            var (observer, subscription) = subscribers[i];
            var leaseEnd = subscription.RenewedAt + ToTimestampTicks(subscription.Lease);
            if (_subscribers.Remove(observer, out var current))
            {
                leaseEnd = Math.Max(leaseEnd, current.RenewedAt + ToTimestampTicks(current.Lease));
            }

            waitUntil = Math.Max(waitUntil, leaseEnd);
            Quarantine(ProcessOf(observer), leaseEnd + ToTimestampTicks(options.Value.NearCache.Lease));
            LogSubscriberUnreachable(logger, deliveries[i].Exception?.InnerException?.GetType().Name ?? "timeout");
        }

        return waitUntil;
    }

    /// <summary>Keeps a process out until <paramref name="until"/>; forgets those whose time is up, so that dead processes do not pile up.</summary>
    private void Quarantine(string process, long until)
    {
        var now = _time.GetTimestamp();
        foreach (var (key, end) in _quarantined)
        {
            if (end <= now)
            {
                _quarantined.Remove(key);
            }
        }

        _quarantined[process] = until;
    }

    /// <summary>
    /// The process an observer lives in: a client's observers share its client id (a silo's, its
    /// hosted client's), so one process cannot hold many subscriptions by making many observers.
    /// </summary>
    private static string ProcessOf(ISessionCacheObserver observer)
    {
        // An observer's id is its client's id, '+', and the observer's own part.
        var id = observer.GetGrainId().ToString();
        var separator = id.LastIndexOf('+');
        return separator > 0 ? id[..separator] : id;
    }

    [LoggerMessage(EventId = 2203, Level = LogLevel.Warning, Message = "A subscription to sign-out notices was refused: the hub holds {Subscribers} subscriptions, or the process holds its most")]
    private static partial void LogSubscriptionRefused(ILogger logger, int subscribers);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Information, Message = "Invalidation hub activated as incarnation {Incarnation} (existed before: {Existed}); publishes wait a full lease if it did")]
    private static partial void LogActivated(ILogger logger, Guid incarnation, bool existed);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "A near cache could not be told of a sign-out ({Exception}); waiting for its lease to run out before confirming")]
    private static partial void LogSubscriberUnreachable(ILogger logger, string exception);

    private long ToTimestampTicks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    // RenewedAt is the hub's timestamp on receipt; the subscriber counts its lease from before it
    // asked, so its lease always ends first.
    private sealed record Subscription(long RenewedAt, TimeSpan Lease);
}

/// <summary>The hub's persisted record: only that it existed, and as which incarnation.</summary>
[GenerateSerializer]
internal sealed class InvalidationHubState
{
    [Id(0)]
    public Guid Incarnation { get; set; }
}
