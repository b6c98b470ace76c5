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
    private NoticePump? _recordPump;
    private NoticePump? _deliverPump;

    private NoticePump RecordPump => _recordPump ?? Interlocked.CompareExchange(ref _recordPump, new NoticePump(batch => PhaseAsync(batch, deliver: false)), null) ?? _recordPump;

    private NoticePump DeliverPump => _deliverPump ?? Interlocked.CompareExchange(ref _deliverPump, new NoticePump(batch => PhaseAsync(batch, deliver: true)), null) ?? _deliverPump;

    /// <summary>Tells every process; completes when none can serve what the notice revokes.</summary>
    public async Task PublishAsync(InvalidationNotice notice)
    {
        // Two phases. First every silo records the notice for its session grains; then every
        // near cache hears it. A near cache that has heard asks only silos that have recorded it,
        // and an answer it was already waiting for meets its epoch check. Concurrent sign-outs
        // share deliveries: a phase carries every notice queued while the previous one ran.
        var waitUntil = await RecordPump.SendAsync(notice);
        waitUntil = Math.Max(waitUntil, await DeliverPump.SendAsync(notice));
        var now = _time.GetTimestamp();
        if (waitUntil > now)
        {
            // Sessions are still servable from an unreachable near cache until its lease ends.
            await Task.Delay(_time.GetElapsedTime(now, waitUntil), _time);
        }
    }

    /// <summary>One phase through every relay; gives until when a process that could not be told may still serve.</summary>
    private async Task<long> PhaseAsync(InvalidationNotice[] notices, bool deliver)
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
            var calls = new Task<TimeSpan>[targets.Length];
            for (var i = 0; i < targets.Length; i++)
            {
                var relay = grains.GetGrain<IInvalidationRelayGrain>(targets[i].ToParsableString());
                calls[i] = (deliver ? relay.DeliverAsync(notices) : Recorded(relay.RecordAsync(notices))).WaitAsync(NotifyTimeout);
            }

            try
            {
                await Task.WhenAll(calls);
            }
            catch (Exception)
            {
                // Inspected per call below.
            }

            var failed = false;
            for (var i = 0; i < targets.Length; i++)
            {
                if (calls[i].IsCompletedSuccessfully)
                {
                    var remaining = calls[i].Result;
                    if (remaining > TimeSpan.Zero)
                    {
                        waitUntil = Math.Max(waitUntil, _time.GetTimestamp() + Ticks(remaining));
                    }

                    pending.Remove(targets[i]);
                }
                else
                {
                    failed = true;
                    LogRelayUnreachable(logger, calls[i].Exception?.InnerException?.GetType().Name ?? "timeout");
                }
            }

            if (failed)
            {
                // A silo that cannot be reached either comes back or is declared dead; only then
                // may the sign-out count on its lease. Until then it is asked again. One still
                // joining has no relay yet, so no subscriber: whoever subscribes there later starts
                // with an empty near cache, and its lookups meet the user's grain, which has the
                // sign-out.
                await Task.Delay(RetryEvery, _time);
                snapshot = Observe(membership.CurrentSnapshot);
                pending.RemoveWhere(silo => snapshot.GetSiloStatus(silo) is SiloStatus.Dead or SiloStatus.None or SiloStatus.Joining or SiloStatus.Created);
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

    private static async Task<TimeSpan> Recorded(Task recording)
    {
        await recording;
        return TimeSpan.Zero;
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

/// <summary>
/// Sends notices in batches: one is sent at once when nothing is in flight; those that arrive
/// meanwhile go together as soon as it returns. Each caller gets its own batch's result.
/// </summary>
internal sealed class NoticePump(Func<InvalidationNotice[], Task<long>> send)
{
    /// <summary>Bounds one message: a batch of sign-outs, not a flood in one call.</summary>
    internal const int MaxBatch = 256;

    private readonly Lock _lock = new();
    private readonly List<(InvalidationNotice Notice, TaskCompletionSource<long> Done)> _queued = [];
    private bool _running;

    public Task<long> SendAsync(InvalidationNotice notice)
    {
        var done = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            _queued.Add((notice, done));
            if (!_running)
            {
                _running = true;

                // Off the calling grain's scheduler: the pump outlives the call that started it.
                _ = Task.Run(RunAsync);
            }
        }

        return done.Task;
    }

    private async Task RunAsync()
    {
        while (true)
        {
            (InvalidationNotice Notice, TaskCompletionSource<long> Done)[] batch;
            lock (_lock)
            {
                if (_queued.Count == 0)
                {
                    _running = false;
                    return;
                }

                var count = Math.Min(_queued.Count, MaxBatch);
                batch = [.. _queued.Take(count)];
                _queued.RemoveRange(0, count);
            }

            try
            {
                var result = await send([.. batch.Select(static b => b.Notice)]);
                foreach (var (_, done) in batch)
                {
                    done.TrySetResult(result);
                }
            }
            catch (Exception exception)
            {
                foreach (var (_, done) in batch)
                {
                    done.TrySetException(exception);
                }
            }
        }
    }
}
