using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.Client;
using SessionCache.Contracts;

namespace SessionCache.Grains;

/// <summary>
/// Publishes a sign-out from the silo where it happens to every silo's relay at once, and returns
/// only when no live process serves what it revokes: every relay delivered it, or its silo is
/// dead and the leases it could have granted have run out.
/// </summary>
/// <remarks>
/// A relay's silo that died took its relay with it, and its subscribers (alive, in other
/// processes) cannot be told. They renewed their leases with it at the latest when it died, which
/// is before this silo learnt of the death; so waiting one lease from that moment is enough. The
/// lease (<c>NearCache:Lease</c>) is therefore what a silo's death costs a sign-out, and how long
/// such a subscriber stays unreachable: it moves to another relay at its next renewal.
/// </remarks>
internal sealed partial class InvalidationFanOut(
    IClusterMembershipService membership,
    IGrainFactory grains,
    ILocalSiloDetails localSilo,
    IOptions<SessionCacheClientOptions> options,
    IServiceProvider services,
    ILogger<InvalidationFanOut> logger) : BackgroundService
{
    private static readonly TimeSpan NotifyTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RetryEvery = TimeSpan.FromMilliseconds(100);

    // Leases run on real time, whatever clock sessions expire by.
    private readonly TimeProvider _time = services.GetService<TimeProvider>() ?? TimeProvider.System;

    // When this silo first saw each silo leave the cluster (timestamps); forgotten a lease later.
    private readonly ConcurrentDictionary<SiloAddress, long> _leftAt = new();
    private readonly long _startedAt = (services.GetService<TimeProvider>() ?? TimeProvider.System).GetTimestamp();
    private MembershipVersion _seen = MembershipVersion.MinValue;

    /// <summary>Tells every process; completes when none can serve what the notice revokes.</summary>
    public async Task PublishAsync(InvalidationNotice notice)
    {
        // Two rounds. After the first, every process has heard, grain hosts included, so no
        // session grain answers from before the notice. But a near cache may have heard before the
        // silo it asked, and stored that silo's older answer; the second round sweeps it out (or
        // the near cache's epoch check does, the second notice having arrived mid-call).
        var waitUntil = long.MinValue;
        for (var round = 0; round < 2; round++)
        {
            waitUntil = Math.Max(waitUntil, await RoundAsync(notice));
        }

        var now = _time.GetTimestamp();
        if (waitUntil > now)
        {
            // Sessions are still servable from an unreachable near cache until its lease ends.
            await Task.Delay(_time.GetElapsedTime(now, waitUntil), _time);
        }
    }

    /// <summary>One delivery through every relay; gives until when a process that could not be told may still serve.</summary>
    private async Task<long> RoundAsync(InvalidationNotice notice)
    {
        var waitUntil = long.MinValue;
        var pending = new HashSet<SiloAddress>();
        var snapshot = Observe(membership.CurrentSnapshot);
        foreach (var member in snapshot.Members.Values)
        {
            if (member.Status is not SiloStatus.Dead and not SiloStatus.None)
            {
                pending.Add(member.SiloAddress);
            }
        }

        while (pending.Count > 0)
        {
            var targets = pending.ToArray();
            var deliveries = new Task<TimeSpan>[targets.Length];
            for (var i = 0; i < targets.Length; i++)
            {
                deliveries[i] = grains.GetGrain<IInvalidationRelayGrain>(targets[i].ToParsableString()).DeliverAsync(notice).WaitAsync(NotifyTimeout);
            }

            try
            {
                await Task.WhenAll(deliveries);
            }
            catch (Exception)
            {
                // Inspected per delivery below.
            }

            var failed = false;
            for (var i = 0; i < targets.Length; i++)
            {
                if (deliveries[i].IsCompletedSuccessfully)
                {
                    var remaining = deliveries[i].Result;
                    if (remaining > TimeSpan.Zero)
                    {
                        waitUntil = Math.Max(waitUntil, _time.GetTimestamp() + Ticks(remaining));
                    }

                    pending.Remove(targets[i]);
                }
                else
                {
                    failed = true;
                    LogRelayUnreachable(logger, deliveries[i].Exception?.InnerException?.GetType().Name ?? "timeout");
                }
            }

            if (failed)
            {
                // A silo that cannot be reached either comes back or is declared dead; only then
                // may the sign-out count on its lease. Until then it is asked again.
                await Task.Delay(RetryEvery, _time);
                snapshot = Observe(membership.CurrentSnapshot);
                pending.RemoveWhere(silo => snapshot.GetSiloStatus(silo) is SiloStatus.Dead or SiloStatus.None);
            }
        }

        // Every silo that left within a lease may have granted one that still runs.
        var lease = Ticks(options.Value.NearCache.Lease);
        foreach (var (silo, leftAt) in _leftAt)
        {
            if (snapshot.GetSiloStatus(silo) is SiloStatus.Dead or SiloStatus.None)
            {
                waitUntil = Math.Max(waitUntil, leftAt + lease);
            }
        }

        return waitUntil;
    }

    /// <summary>For a silo that just started: how long ago each of <paramref name="silos"/> was seen leaving, as <see cref="IInvalidationRelayGrain.GetDeparturesAsync"/> answers.</summary>
    public TimeSpan[] Departures(string[] silos)
    {
        var now = _time.GetTimestamp();
        var snapshot = Observe(membership.CurrentSnapshot);
        var answers = new TimeSpan[silos.Length];
        for (var i = 0; i < silos.Length; i++)
        {
            var silo = SiloAddress.FromParsableString(silos[i]);
            answers[i] = _leftAt.TryGetValue(silo, out var leftAt) ? _time.GetElapsedTime(leftAt, now)
                : snapshot.GetSiloStatus(silo) == SiloStatus.Dead ? TimeSpan.MaxValue
                : TimeSpan.Zero;
        }

        return answers;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            Observe(membership.CurrentSnapshot);
            await LearnDeparturesAsync(stoppingToken);
            await foreach (var snapshot in membership.MembershipUpdates.WithCancellation(stoppingToken))
            {
                Observe(snapshot);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// The silos found dead at start are counted as gone since then, which would make every
    /// sign-out published here wait a lease; a silo that was already running knows better. Asked
    /// until one answers, for at most a lease, after which those entries have run out anyway.
    /// </summary>
    private async Task LearnDeparturesAsync(CancellationToken stoppingToken)
    {
        var lease = options.Value.NearCache.Lease;
        while (_time.GetElapsedTime(_startedAt) < lease && !stoppingToken.IsCancellationRequested)
        {
            var peer = membership.CurrentSnapshot.Members.Values.FirstOrDefault(m => m.Status == SiloStatus.Active && !m.SiloAddress.Equals(localSilo.SiloAddress));
            if (peer is not null)
            {
                try
                {
                    string[] asked;
                    lock (_leftAt)
                    {
                        asked = [.. _leftAt.Where(d => d.Value == _startedAt).Select(static d => d.Key.ToParsableString())];
                    }

                    var answers = await grains.GetGrain<IInvalidationRelayGrain>(peer.SiloAddress.ToParsableString()).GetDeparturesAsync(asked).WaitAsync(TimeSpan.FromSeconds(1), stoppingToken);
                    var now = _time.GetTimestamp();
                    lock (_leftAt)
                    {
                        for (var i = 0; i < asked.Length && i < answers.Length; i++)
                        {
                            // The peer saw it go no later than "ago" before now (its answer took
                            // time to come); either bound is safe, the earlier is kept. More than
                            // a lease ago: its leases are over.
                            var silo = SiloAddress.FromParsableString(asked[i]);
                            if (answers[i] == TimeSpan.MaxValue)
                            {
                                _leftAt.TryRemove(silo, out _);
                            }
                            else if (answers[i] > TimeSpan.Zero && _leftAt.TryGetValue(silo, out var leftAt))
                            {
                                _leftAt[silo] = Math.Min(leftAt, now - Ticks(answers[i]));
                            }
                        }
                    }

                    return;
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    LogDeparturesUnknown(logger, exception.GetType().Name);
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), _time, stoppingToken);
        }
    }

    /// <summary>Records when silos left, as this silo learns it; a snapshot already seen changes nothing.</summary>
    private ClusterMembershipSnapshot Observe(ClusterMembershipSnapshot snapshot)
    {
        lock (_leftAt)
        {
            if (snapshot.Version <= _seen)
            {
                return snapshot;
            }

            var first = _seen == MembershipVersion.MinValue;
            _seen = snapshot.Version;
            var now = _time.GetTimestamp();
            var lease = Ticks(options.Value.NearCache.Lease);
            foreach (var member in snapshot.Members.Values)
            {
                if (member.Status == SiloStatus.Dead)
                {
                    // Dead before this silo started: when, it cannot know, so from its start.
                    _leftAt.TryAdd(member.SiloAddress, first ? _startedAt : now);
                }
            }

            foreach (var (silo, leftAt) in _leftAt)
            {
                if (leftAt + lease < now)
                {
                    _leftAt.TryRemove(silo, out _);
                }
            }

            return snapshot;
        }
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    [LoggerMessage(EventId = 2205, Level = LogLevel.Debug, Message = "Could not yet learn from a peer when the dead silos left ({Exception}); counting them as gone since this silo started")]
    private static partial void LogDeparturesUnknown(ILogger logger, string exception);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Warning, Message = "A silo's invalidation relay could not be reached ({Exception}); asking again until it answers or is declared dead")]
    private static partial void LogRelayUnreachable(ILogger logger, string exception);
}
