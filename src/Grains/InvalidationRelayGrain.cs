using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;
using Orleans.Runtime.Placement;
using SessionCache.Client;
using SessionCache.Client.Internals;
using SessionCache.Contracts;

namespace SessionCache.Grains;

/// <summary>
/// Tells the near caches subscribed through this silo what to forget. A delivery completes when
/// every subscriber has acknowledged, or with how long the lease of one that could not be reached
/// still runs (its near cache stops serving then by itself). Reentrant, so that one slow delivery
/// does not hold up renewals or other deliveries.
/// </summary>
/// <remarks>
/// The subscriptions live in <see cref="InvalidationRelayState"/>, a singleton of the silo, so that
/// the grain being collected and activated again forgets nobody; they die with the silo, whose
/// address no later process reuses. No subscriber can stretch a sign-out: the relay grants its
/// own configured lease (<c>SessionCache:NearCache:Lease</c>), whatever a subscriber would like;
/// one process holds at most <see cref="InvalidationRelayState.MaxSubscribersPerProcess"/>
/// subscriptions; and a process that failed to acknowledge is dropped and may not subscribe again
/// for one lease.
/// </remarks>
[Reentrant]
[SiloBoundPlacement]
internal sealed partial class InvalidationRelayGrain(
    InvalidationRelayState state,
    InvalidationFanOut fanOut,
    NearCache grainNotices,
    ILocalSiloDetails localSilo,
    IOptions<SessionCacheClientOptions> options,
    ILogger<InvalidationRelayGrain> logger) : Grain, IInvalidationRelayGrain
{
    private static readonly TimeSpan MaxNotifyTimeout = TimeSpan.FromSeconds(5);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // The placement director puts a relay only on its own silo; a key naming another silo
        // must never be served from this silo's (empty, for it) subscriptions.
        if (!string.Equals(this.GetPrimaryKeyString(), localSilo.SiloAddress.ToParsableString(), StringComparison.Ordinal))
        {
            throw new InvalidOperationException("An invalidation relay was activated away from the silo it names.");
        }

        return Task.CompletedTask;
    }

    public Task<SubscriptionAck> SubscribeAsync(ISessionCacheObserver observer)
    {
        var (known, refusal) = state.Subscribe(observer, options.Value.NearCache.Lease);
        if (refusal is not null)
        {
            LogSubscriptionRefused(logger, state.Count);
            throw new SubscriptionRefusedException(refusal);
        }

        return Task.FromResult(new SubscriptionAck(state.Incarnation, known, options.Value.NearCache.Lease));
    }

    public Task UnsubscribeAsync(ISessionCacheObserver observer)
    {
        state.Unsubscribe(observer);
        return Task.CompletedTask;
    }

    public Task RecordAsync(InvalidationNotice[] notices)
    {
        // The silo's session grains serve a cached answer only if no notice since concerns it.
        foreach (var notice in notices)
        {
            grainNotices.Invalidate(notice);
        }

        return Task.CompletedTask;
    }

    public async Task<TimeSpan> DeliverAsync(InvalidationNotice[] notices)
    {
        var subscribers = state.Snapshot();

        // Never longer than a lease: waiting for the lease to end is the fallback anyway.
        var lease = options.Value.NearCache.Lease;
        var notifyTimeout = lease < MaxNotifyTimeout ? lease : MaxNotifyTimeout;
        var deliveries = new Task[subscribers.Length];
        for (var i = 0; i < subscribers.Length; i++)
        {
            deliveries[i] = subscribers[i].Observer.OnInvalidatedAsync(notices).WaitAsync(notifyTimeout);
        }

        try
        {
            await Task.WhenAll(deliveries);
        }
        catch (Exception)
        {
            // Inspected per delivery below.
        }

        var remaining = TimeSpan.Zero;
        for (var i = 0; i < subscribers.Length; i++)
        {
            if (deliveries[i].IsCompletedSuccessfully)
            {
                continue;
            }

            var left = state.Drop(subscribers[i], lease);
            remaining = left > remaining ? left : remaining;
            LogSubscriberUnreachable(logger, deliveries[i].Exception?.InnerException?.GetType().Name ?? "timeout");
        }

        return remaining;
    }

    public Task<TimeSpan[]> GetDeparturesAsync(string[] silos) => Task.FromResult(fanOut.Departures(silos));

    [LoggerMessage(EventId = 2203, Level = LogLevel.Warning, Message = "A subscription to sign-out notices was refused: the relay holds {Subscribers} subscriptions, or the process holds its most")]
    private static partial void LogSubscriptionRefused(ILogger logger, int subscribers);

    [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "A near cache could not be told of a sign-out ({Exception}); the sign-out waits for its lease to run out before confirming")]
    private static partial void LogSubscriberUnreachable(ILogger logger, string exception);
}

/// <summary>The subscriptions of this silo's relay, kept for the life of the silo.</summary>
internal sealed class InvalidationRelayState(TimeProvider? time = null)
{
    /// <summary>A process has one near cache; a few more allow for a client restarting in place.</summary>
    internal const int MaxSubscribersPerProcess = 4;

    /// <summary>Beyond this many processes on one silo something is wrong; refusing protects its memory and every delivery's fan-out.</summary>
    internal const int MaxSubscribers = 10_000;

    // Leases run on real time, whatever clock sessions expire by.
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private readonly Dictionary<ISessionCacheObserver, Subscription> _subscribers = [];
    private readonly Dictionary<string, int> _perProcess = new(StringComparer.Ordinal);

    // Processes dropped for not acknowledging, and until when (timestamps) they stay out.
    private readonly Dictionary<string, long> _quarantined = new(StringComparer.Ordinal);

    /// <summary>This silo process: a subscriber that moves here from another relay learns it is new here.</summary>
    public Guid Incarnation { get; } = Guid.NewGuid();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _subscribers.Count;
            }
        }
    }

    /// <summary>Adds or renews; gives whether it was known, or why it is refused.</summary>
    public (bool Known, string? Refusal) Subscribe(ISessionCacheObserver observer, TimeSpan lease)
    {
        var now = _time.GetTimestamp();
        lock (_lock)
        {
            if (_subscribers.TryGetValue(observer, out var current))
            {
                _subscribers[observer] = current with { RenewedAt = now, Lease = lease };
                return (true, null);
            }

            var process = ProcessOf(observer);
            if (_quarantined.TryGetValue(process, out var until))
            {
                if (now < until)
                {
                    // No lease: its near cache stays bypassed, so it needs no notice either.
                    return (false, "This process did not acknowledge a sign-out notice and may subscribe here again after one lease; until then it serves no session from its near cache.");
                }

                _quarantined.Remove(process);
            }

            if (_subscribers.Count >= MaxSubscribers || _perProcess.GetValueOrDefault(process) >= MaxSubscribersPerProcess)
            {
                return (false, $"The invalidation relay holds the most subscriptions it allows (at most {MaxSubscribersPerProcess} per process, {MaxSubscribers} in all).");
            }

            _subscribers[observer] = new Subscription(observer, process, now, lease);
            _perProcess[process] = _perProcess.GetValueOrDefault(process) + 1;
            return (false, null);
        }
    }

    public void Unsubscribe(ISessionCacheObserver observer)
    {
        lock (_lock)
        {
            if (_subscribers.Remove(observer, out var removed))
            {
                Forget(removed.Process);
            }
        }
    }

    public Subscription[] Snapshot()
    {
        lock (_lock)
        {
            return [.. _subscribers.Values];
        }
    }

    /// <summary>
    /// Drops a subscriber that did not acknowledge, even if it renewed meanwhile (the renewal said
    /// nothing of this notice): its next renewal learns it was dropped and empties its cache. Until
    /// then it may serve under whichever lease it holds; gives how long that still runs.
    /// </summary>
    public TimeSpan Drop(Subscription dropped, TimeSpan configuredLease)
    {
        lock (_lock)
        {
            var leaseEnd = dropped.RenewedAt + Ticks(dropped.Lease);
            if (_subscribers.Remove(dropped.Observer, out var current))
            {
                leaseEnd = Math.Max(leaseEnd, current.RenewedAt + Ticks(current.Lease));
                Forget(current.Process);
            }

            var now = _time.GetTimestamp();
            foreach (var (key, end) in _quarantined)
            {
                if (end <= now)
                {
                    _quarantined.Remove(key);
                }
            }

            _quarantined[dropped.Process] = leaseEnd + Ticks(configuredLease);
            return leaseEnd > now ? _time.GetElapsedTime(now, leaseEnd) : TimeSpan.Zero;
        }
    }

    private void Forget(string process)
    {
        if (_perProcess.TryGetValue(process, out var count) && count > 1)
        {
            _perProcess[process] = count - 1;
        }
        else
        {
            _perProcess.Remove(process);
        }
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

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>One subscription. <c>RenewedAt</c> is the relay's timestamp on receipt; the subscriber counts its lease from before it asked, so its lease always ends first.</summary>
    internal sealed record Subscription(ISessionCacheObserver Observer, string Process, long RenewedAt, TimeSpan Lease);
}

/// <summary>Places a grain only on the silo its string key names (<c>SiloAddress.ToParsableString()</c>), and nowhere if that silo is gone.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking]
internal sealed class SiloBoundPlacement : PlacementStrategy
{
    internal static SiloBoundPlacement Singleton { get; } = new();
}

/// <summary>Marks a grain class for <see cref="SiloBoundPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
internal sealed class SiloBoundPlacementAttribute() : PlacementAttribute(SiloBoundPlacement.Singleton);

/// <summary>Puts the grain on the silo its key names, or fails the call: a relay somewhere else would know none of that silo's subscribers.</summary>
internal sealed class SiloBoundPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = target.GrainIdentity.Key.ToString();
        foreach (var silo in context.GetCompatibleSilos(target))
        {
            if (string.Equals(silo.ToParsableString(), key, StringComparison.Ordinal))
            {
                return Task.FromResult(silo);
            }
        }

        throw new SiloUnavailableException("The silo this invalidation relay belongs to is not active.");
    }
}
