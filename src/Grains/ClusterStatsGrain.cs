using SessionCache.AuthJs.Internals;
using SessionCache.Contracts;

namespace SessionCache.Grains;

/// <summary>
/// The cluster's recent history for the dashboard and the command-line client: every process
/// reports its totals each second, and this grain turns consecutive reports into per-second
/// counts. The first report of a process (or of a restarted one, a new instance whose totals
/// start again from zero) only sets its baseline, so a re-activated stats grain shows no spike of
/// everything ever counted, and a restart no negative counts.
/// </summary>
internal sealed class ClusterStatsGrain : Grain, IClusterStatsGrain
{
    private const int History = 600;

    // A process that stopped reporting this long ago is gone from the dashboard.
    private const long ProcessTimeoutSeconds = 30;

    private readonly Dictionary<string, ProcessReport> _processes = new(StringComparer.Ordinal);
    private readonly SecondBucket[] _ring = new SecondBucket[History];
    private readonly TimeProvider _clock = TimeProvider.System;

    private long NowSecond => _clock.GetUtcNow().ToUnixTimeSeconds();

    public Task ReportAsync(ProcessReport report)
    {
        var now = NowSecond;
        var second = Math.Abs(report.Second - now) <= 10 ? report.Second : now;
        var bucket = BucketFor(second);
        if (_processes.TryGetValue(report.Process, out var previous) && report.Instance == previous.Instance
            && report.LatencyBuckets.Length == previous.LatencyBuckets.Length)
        {
            bucket.Lookups += report.Lookups - previous.Lookups;
            bucket.Hits += report.NearHits + report.GrainHits - previous.NearHits - previous.GrainHits;
            bucket.Misses += report.Misses - previous.Misses;
            bucket.UpstreamCalls += report.UpstreamCalls - previous.UpstreamCalls;
            bucket.UpstreamErrors += report.UpstreamErrors - previous.UpstreamErrors;
            bucket.Invalidations += report.UserInvalidations + report.SessionInvalidations - previous.UserInvalidations - previous.SessionInvalidations;
            bucket.AddLatency(report.LatencyBuckets, previous.LatencyBuckets);
        }

        if (report.Silo is { } silo)
        {
            bucket.LiveBySilo[silo] = report.LiveSessions;
        }

        _processes[report.Process] = report;
        return Task.CompletedTask;
    }

    public Task<ClusterStats> GetAsync(int seconds)
    {
        seconds = Math.Clamp(seconds, 1, History - 2);
        var now = NowSecond;
        foreach (var gone in _processes.Where(p => now - p.Value.Second > ProcessTimeoutSeconds).Select(p => p.Key).ToList())
        {
            _processes.Remove(gone);
        }

        // The current second is still being reported; the one before is complete.
        var first = now - seconds;
        var series = new SecondStats[seconds];
        for (var i = 0; i < seconds; i++)
        {
            var second = first + i;
            var bucket = _ring[second % History];
            series[i] = bucket is not null && bucket.Second == second
                ? bucket.ToStats()
                : new SecondStats(second, 0, 0, 0, 0, 0, 0, null, null, null);
        }

        var silos = _processes.Values
            .Where(static p => p.Silo is not null)
            .GroupBy(static p => p.Silo!, StringComparer.Ordinal)
            .OrderBy(static g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var bySecond = new long?[seconds];
                for (var i = 0; i < seconds; i++)
                {
                    var bucket = _ring[(first + i) % History];
                    bySecond[i] = bucket is not null && bucket.Second == first + i && bucket.LiveBySilo.TryGetValue(g.Key, out var live) ? live : null;
                }

                return new SiloStats(g.Key, g.MaxBy(static p => p.Second)!.LiveSessions, bySecond);
            })
            .ToArray();

        var processes = _processes.Values
            .OrderBy(static p => p.Silo is null)
            .ThenBy(static p => p.Process, StringComparer.Ordinal)
            .Select(static p => new ProcessStats(p.Process, p.Silo, p.Second, p.Lookups, p.NearHits + p.GrainHits, p.Misses,
                p.UpstreamCalls, p.UpstreamErrors, p.UserInvalidations + p.SessionInvalidations, p.LiveSessions))
            .ToArray();
        return Task.FromResult(new ClusterStats(first, series, silos, processes));
    }

    private SecondBucket BucketFor(long second)
    {
        ref var slot = ref _ring[second % History];
        if (slot is null || slot.Second != second)
        {
            slot = new SecondBucket(second);
        }

        return slot;
    }

    private sealed class SecondBucket(long second)
    {
        public long Second { get; } = second;

        public long Lookups { get; set; }

        public long Hits { get; set; }

        public long Misses { get; set; }

        public long UpstreamCalls { get; set; }

        public long UpstreamErrors { get; set; }

        public long Invalidations { get; set; }

        public Dictionary<string, long> LiveBySilo { get; } = new(StringComparer.Ordinal);

        private readonly long[] _latency = new long[SessionCacheMetrics.LatencyBounds.Length + 1];

        public void AddLatency(long[] current, long[] previous)
        {
            for (var i = 0; i < _latency.Length && i < current.Length; i++)
            {
                _latency[i] += current[i] - previous[i];
            }
        }

        public SecondStats ToStats() => new(Second, Lookups, Hits, Misses, UpstreamCalls, UpstreamErrors, Invalidations,
            Percentile(0.50), Percentile(0.90), Percentile(0.99));

        /// <summary>The quantile in milliseconds, interpolated within its bucket; null without lookups.</summary>
        private double? Percentile(double quantile)
        {
            var total = _latency.Sum();
            if (total == 0)
            {
                return null;
            }

            var rank = quantile * total;
            long seen = 0;
            var bounds = SessionCacheMetrics.LatencyBounds;
            for (var i = 0; i < _latency.Length; i++)
            {
                if (_latency[i] == 0 || seen + _latency[i] < rank)
                {
                    seen += _latency[i];
                    continue;
                }

                var lower = i == 0 ? 0 : bounds[i - 1];
                var upper = i < bounds.Length ? bounds[i] : bounds[^1] * 2;
                return (lower + ((upper - lower) * (rank - seen) / _latency[i])) * 1000;
            }

            return bounds[^1] * 1000;
        }
    }
}
