using Orleans.Concurrency;

namespace SessionCache.Contracts;

/// <summary>
/// Collects every process' counts once a second (silos and clients report to it) and answers the
/// dashboard and <c>sessioncache status</c> with per-second series across the cluster. One
/// activation, key 0; what it holds is a few minutes of history, lost harmlessly with its silo.
/// </summary>
internal interface IClusterStatsGrain : IGrainWithIntegerKey
{
    /// <summary>Records one process' totals since it started.</summary>
    [OneWay]
    Task ReportAsync(ProcessReport report);

    /// <summary>The last <paramref name="seconds"/> seconds across the cluster, and every process' totals.</summary>
    Task<ClusterStats> GetAsync(int seconds);
}

/// <summary>
/// One process' totals since it started, as of <see cref="Second"/> (Unix seconds).
/// <see cref="Instance"/> changes when the process restarts (perhaps on the same address), and
/// with it the totals start again from zero.
/// </summary>
[GenerateSerializer, Immutable]
internal sealed record ProcessReport(
    [property: Id(0)] string Process,
    [property: Id(1)] string? Silo,
    [property: Id(2)] long Second,
    [property: Id(3)] long Lookups,
    [property: Id(4)] long NearHits,
    [property: Id(5)] long GrainHits,
    [property: Id(6)] long Misses,
    [property: Id(7)] long UpstreamCalls,
    [property: Id(8)] long UpstreamErrors,
    [property: Id(9)] long UserInvalidations,
    [property: Id(10)] long SessionInvalidations,
    [property: Id(11)] long LiveSessions,
    [property: Id(12)] long[] LatencyBuckets,
    [property: Id(13)] Guid Instance);

/// <summary>What happened across the cluster in one second.</summary>
[GenerateSerializer, Immutable]
internal sealed record SecondStats(
    [property: Id(0)] long Second,
    [property: Id(1)] long Lookups,
    [property: Id(2)] long Hits,
    [property: Id(3)] long Misses,
    [property: Id(4)] long UpstreamCalls,
    [property: Id(5)] long UpstreamErrors,
    [property: Id(6)] long Invalidations,
    [property: Id(7)] double? P50Ms,
    [property: Id(8)] double? P90Ms,
    [property: Id(9)] double? P99Ms);

/// <summary>A silo's cached sessions now, and per second over the window.</summary>
[GenerateSerializer, Immutable]
internal sealed record SiloStats(
    [property: Id(0)] string Silo,
    [property: Id(1)] long LiveSessions,
    [property: Id(2)] long?[] LiveSessionsBySecond);

/// <summary>A reporting process and its totals since it started.</summary>
[GenerateSerializer, Immutable]
internal sealed record ProcessStats(
    [property: Id(0)] string Process,
    [property: Id(1)] string? Silo,
    [property: Id(2)] long LastSecond,
    [property: Id(3)] long Lookups,
    [property: Id(4)] long Hits,
    [property: Id(5)] long Misses,
    [property: Id(6)] long UpstreamCalls,
    [property: Id(7)] long UpstreamErrors,
    [property: Id(8)] long Invalidations,
    [property: Id(9)] long LiveSessions);

/// <summary>The cluster over a window of seconds (oldest first, the last complete second last).</summary>
[GenerateSerializer, Immutable]
internal sealed record ClusterStats(
    [property: Id(0)] long FirstSecond,
    [property: Id(1)] SecondStats[] Seconds,
    [property: Id(2)] SiloStats[] Silos,
    [property: Id(3)] ProcessStats[] Processes);
