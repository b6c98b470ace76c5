using Microsoft.Extensions.DependencyInjection;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Contracts;
using SessionCache.Grains;

namespace SessionCache.Cluster.Tests;

/// <summary>
/// The cluster's per-second statistics (the dashboard's and <c>sessioncache status</c>' source):
/// every process reports its totals each second to the stats grain, which turns them into
/// per-second counts, hit ratios and latency percentiles.
/// </summary>
[Collection(MetricsClusterCollection.Name)]
public sealed class ClusterStatsTests(MetricsCluster cluster)
{
    private IClusterStatsGrain Stats => cluster.ClientServices.GetRequiredService<IGrainFactory>().GetGrain<IClusterStatsGrain>(0);

    [Fact]
    public async Task LookupsShowUpPerSecondWithHitRatioLatencyAndLiveSessionsPerSilo()
    {
        // Every earlier count reported (labels up to `quiet`), then one more report from everyone,
        // with nothing new in it: from here on, every count in labels after `quiet` is this test's.
        var quiet = await WaitUntilEverythingIsReportedAsync();
        await Eventually.TrueAsync(async () => (await Stats.GetAsync(10)).Processes.All(p => p.LastSecond > quiet), "every process reported once more");

        var liveBefore = cluster.SiloServices.Select(static sp => sp.GetRequiredService<SessionCacheMetrics>().Totals().LiveSessions).ToList();
        var cookie = MetricsCluster.CookieOf(MetricsCluster.NewToken("stats-lookups"));
        const int n = 40, m = 10;
        for (var i = 0; i < n; i++)
        {
            Assert.Equal(SessionLookupStatus.Session, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
        }

        for (var i = 0; i < m; i++)
        {
            Assert.Equal(SessionLookupStatus.Session, (await cluster.SiloCaches[0].LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
        }

        // Within a few seconds, the window shows exactly these lookups (the labels after the quiet one).
        IEnumerable<SecondStats> Mine(ClusterStats stats) => stats.Seconds.Where(s => s.Second > quiet);
        ClusterStats stats = null!;
        await Eventually.TrueAsync(async () =>
        {
            stats = await Stats.GetAsync(10);
            return Mine(stats).Sum(static s => s.Lookups) == n + m && Mine(stats).Sum(static s => s.Hits + s.Misses) == n + m;
        }, $"the stats grain showing {n + m} lookups");

        var seconds = Mine(stats).ToList();
        Assert.Equal(10, stats.Seconds.Length);
        Assert.Equal(stats.FirstSecond, stats.Seconds[0].Second);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => stats.FirstSecond + i), stats.Seconds.Select(static s => s.Second));

        // One resolution; the rest near hits (n - 1 in the client, m - 1 in silo 0) and one grain hit.
        Assert.Equal(1, seconds.Sum(static s => s.Misses));
        Assert.Equal(n + m - 1, seconds.Sum(static s => s.Hits));
        Assert.Equal((n + m - 1) / (double)(n + m), seconds.Sum(static s => s.Hits) / (double)seconds.Sum(static s => s.Hits + s.Misses), 9);
        Assert.Equal(0, seconds.Sum(static s => s.UpstreamCalls));
        Assert.Equal(0, seconds.Sum(static s => s.Invalidations));

        // Latency percentiles exist exactly for the seconds with lookups, in order, in milliseconds.
        foreach (var second in stats.Seconds)
        {
            if (second.Lookups > 0)
            {
                Assert.NotNull(second.P50Ms);
                Assert.NotNull(second.P90Ms);
                Assert.NotNull(second.P99Ms);
                Assert.InRange(second.P50Ms!.Value, 0, second.P90Ms!.Value);
                Assert.InRange(second.P90Ms.Value, second.P50Ms.Value, second.P99Ms!.Value);
                Assert.InRange(second.P99Ms.Value, 0, 20_000);
            }
            else if (second.Second > quiet)
            {
                Assert.Null(second.P50Ms);
                Assert.Null(second.P99Ms);
            }
        }

        // Every process reports; each silo under its endpoint, with the sessions it holds now.
        Assert.Equal(cluster.ProcessNames.Order(StringComparer.Ordinal), stats.Processes.Select(static p => p.Process).Order(StringComparer.Ordinal));
        Assert.Null(stats.Processes.Single(p => p.Process == cluster.ClientName).Silo);
        var silos = cluster.SiloServices.Select(static sp => sp.GetRequiredService<Client.Internals.MetricsProcessIdentity>().Silo!).ToList();
        Assert.Equal(silos.Order(StringComparer.Ordinal), stats.Silos.Select(static s => s.Silo));
        var holding = Assert.Single(Enumerable.Range(0, silos.Count), i => LiveNow(i) == liveBefore[i] + 1);
        await Eventually.TrueAsync(async () =>
        {
            stats = await Stats.GetAsync(10);
            return stats.Silos.Single(s => s.Silo == silos[holding]).LiveSessions == LiveNow(holding);
        }, "the silo holding the session reporting it live");
        var silo = stats.Silos.Single(s => s.Silo == silos[holding]);
        Assert.True(silo.LiveSessions >= 1);
        Assert.Equal(10, silo.LiveSessionsBySecond.Length);
        Assert.Equal(silo.LiveSessions, silo.LiveSessionsBySecond.Last(static live => live is not null));
    }

    [Fact]
    public async Task TheStatsGrainIsReachableFromEveryProcessAndAgrees()
    {
        await WaitUntilEverythingIsReportedAsync();

        var fromClient = await Stats.GetAsync(5);
        var fromSilo = await cluster.SiloServices[1].GetRequiredService<IGrainFactory>().GetGrain<IClusterStatsGrain>(0).GetAsync(5);

        Assert.Equal(
            fromClient.Processes.Select(static p => p.Process).Order(StringComparer.Ordinal),
            fromSilo.Processes.Select(static p => p.Process).Order(StringComparer.Ordinal));
        Assert.Equal(5, fromSilo.Seconds.Length);
    }

    /// <summary>Waits until every process' last report carries its current totals; returns the latest label then.</summary>
    private async Task<long> WaitUntilEverythingIsReportedAsync()
    {
        long quiet = 0;
        await Eventually.TrueAsync(async () =>
        {
            var stats = await Stats.GetAsync(10);
            foreach (var (name, services) in cluster.Processes)
            {
                var totals = services.GetRequiredService<SessionCacheMetrics>().Totals();
                if (stats.Processes.SingleOrDefault(p => p.Process == name) is not { } reported
                    || reported.Lookups != totals.Lookups || reported.Hits != totals.NearHits + totals.GrainHits
                    || reported.Misses != totals.Misses || reported.Invalidations != totals.UserInvalidations + totals.SessionInvalidations
                    || reported.LiveSessions != totals.LiveSessions)
                {
                    return false;
                }
            }

            quiet = stats.Processes.Max(static p => p.LastSecond);
            return true;
        }, "every process' totals reported");
        return quiet;
    }

    private long LiveNow(int silo) => cluster.SiloServices[silo].GetRequiredService<SessionCacheMetrics>().Totals().LiveSessions;
}

/// <summary>The stats grain's arithmetic, without a cluster: reports in, per-second counts and percentiles out.</summary>
public sealed class ClusterStatsGrainTests
{
    private static readonly int Buckets = SessionCacheMetrics.LatencyBounds.Length + 1;

    [Fact]
    public async Task TheFirstReportOfAProcessIsOnlyItsBaselineAndLaterOnesArePerSecondDeltas()
    {
        var grain = new ClusterStatsGrain();
        var s0 = Now() - 4;

        // Everything the process counted before the grain knew it: no spike.
        await grain.ReportAsync(Report("client a", null, s0, lookups: 1000, nearHits: 900, latency: Latency((5, 1000))));
        await grain.ReportAsync(Report("client a", null, s0 + 1, lookups: 1010, nearHits: 908, latency: Latency((5, 1010))));
        await grain.ReportAsync(Report("silo x", "x", s0 + 1, grainHits: 50, misses: 50, live: 7, upstreamCalls: 50, userInvalidations: 3));
        await grain.ReportAsync(Report("silo x", "x", s0 + 2, grainHits: 51, misses: 52, live: 8, upstreamCalls: 52, upstreamErrors: 1, userInvalidations: 4, sessionInvalidations: 2));
        await grain.ReportAsync(Report("client a", null, s0 + 2, lookups: 1013, nearHits: 908, latency: Latency((5, 1010), (12, 3))));

        var stats = await grain.GetAsync(10);

        var first = At(stats, s0);
        Assert.Equal((0, 0, 0), (first.Lookups, first.Hits, first.Misses));
        Assert.Null(first.P50Ms);

        var second = At(stats, s0 + 1);
        Assert.Equal((10L, 8L, 0L, 0L), (second.Lookups, second.Hits, second.Misses, second.UpstreamCalls));

        // Ten lookups in (20 µs, 50 µs]: interpolated within the bucket, in milliseconds.
        Assert.Equal(0.035, second.P50Ms!.Value, 9);
        Assert.Equal(0.047, second.P90Ms!.Value, 9);
        Assert.Equal(0.0497, second.P99Ms!.Value, 9);

        var third = At(stats, s0 + 2);
        Assert.Equal((3L, 1L, 2L, 2L, 1L, 3L), (third.Lookups, third.Hits, third.Misses, third.UpstreamCalls, third.UpstreamErrors, third.Invalidations));

        // Three lookups in (5 ms, 10 ms].
        Assert.Equal(5 + (5 * 1.5 / 3), third.P50Ms!.Value, 9);
        Assert.True(third.P50Ms <= third.P99Ms);

        var silo = Assert.Single(stats.Silos);
        Assert.Equal(("x", 8L), (silo.Silo, silo.LiveSessions));
        Assert.Equal(7, silo.LiveSessionsBySecond[(int)(s0 + 1 - stats.FirstSecond)]);
        Assert.Equal(8, silo.LiveSessionsBySecond[(int)(s0 + 2 - stats.FirstSecond)]);
        Assert.Null(silo.LiveSessionsBySecond[(int)(s0 - stats.FirstSecond)]);

        // Silos first, then clients; totals as last reported.
        Assert.Equal(["silo x", "client a"], stats.Processes.Select(static p => p.Process));
        Assert.Equal((1013L, 908L, 1L), (stats.Processes[1].Lookups, stats.Processes[1].Hits, stats.Processes[1].LastSecond - s0 - 1));
        Assert.Equal(6, stats.Processes[0].Invalidations);
    }

    [Fact]
    public async Task ARestartedProcessOnlySetsANewBaseline()
    {
        var grain = new ClusterStatsGrain();
        var s0 = Now() - 5;
        var restarted = Guid.NewGuid();

        await grain.ReportAsync(Report("client a", null, s0, lookups: 500, nearHits: 400, latency: Latency((3, 500))));
        await grain.ReportAsync(Report("client a", null, s0 + 1, lookups: 7, nearHits: 2, latency: Latency((3, 7)), instance: restarted));
        await grain.ReportAsync(Report("client a", null, s0 + 2, lookups: 9, nearHits: 3, latency: Latency((3, 9)), instance: restarted));

        var stats = await grain.GetAsync(10);

        Assert.Equal((0, 0), (At(stats, s0 + 1).Lookups, At(stats, s0 + 1).Hits));
        Assert.Equal((2, 1), (At(stats, s0 + 2).Lookups, At(stats, s0 + 2).Hits));
        Assert.All(stats.Seconds, static s => Assert.True(s.Lookups >= 0 && s.Hits >= 0 && s.Misses >= 0, $"negative counts at {s.Second}"));
    }

    [Fact]
    public async Task ASiloThatRestartedOnTheSameEndpointOnlySetsANewBaselineToo()
    {
        var grain = new ClusterStatsGrain();
        var s0 = Now() - 5;

        // A silo serving only grain calls (clients look up through its gateway) counts no lookups
        // of its own; restarted on the same address, it reports under the same name with lower totals.
        var restarted = Guid.NewGuid();
        await grain.ReportAsync(Report("silo x", "x", s0, grainHits: 100, misses: 100, upstreamCalls: 100, userInvalidations: 10, live: 50));
        await grain.ReportAsync(Report("silo x", "x", s0 + 1, grainHits: 2, misses: 1, upstreamCalls: 1, live: 1, instance: restarted));
        await grain.ReportAsync(Report("silo x", "x", s0 + 2, grainHits: 5, misses: 2, upstreamCalls: 2, live: 2, instance: restarted));

        var stats = await grain.GetAsync(10);

        Assert.All(stats.Seconds, static s => Assert.True(
            s.Hits >= 0 && s.Misses >= 0 && s.UpstreamCalls >= 0 && s.Invalidations >= 0,
            $"negative counts at {s.Second}: {s}"));
        Assert.Equal((3, 1, 1), (At(stats, s0 + 2).Hits, At(stats, s0 + 2).Misses, At(stats, s0 + 2).UpstreamCalls));
    }

    [Fact]
    public async Task PercentilesSpanTheBucketsAndTheOpenTopBucket()
    {
        var grain = new ClusterStatsGrain();
        var s0 = Now() - 3;
        await grain.ReportAsync(Report("client a", null, s0, lookups: 0, latency: Latency()));

        // Five lookups of at most 1 µs, four in (5 s, 10 s], one over 10 s.
        await grain.ReportAsync(Report("client a", null, s0 + 1, lookups: 10, latency: Latency((0, 5), (Buckets - 2, 4), (Buckets - 1, 1))));

        var second = At(await grain.GetAsync(10), s0 + 1);

        Assert.Equal(0.001, second.P50Ms!.Value, 9);
        Assert.Equal(5000 + (5000 * 4.0 / 4), second.P90Ms!.Value, 6);
        Assert.Equal(10_000 + (10_000 * 0.9), second.P99Ms!.Value, 6);
    }

    [Fact]
    public async Task TheWindowEndsAtTheLastCompleteSecond()
    {
        var grain = new ClusterStatsGrain();

        var stats = await grain.GetAsync(10);

        Assert.Equal(10, stats.Seconds.Length);
        Assert.InRange(stats.Seconds[^1].Second, Now() - 2, Now() - 1);
        Assert.All(stats.Seconds, static s => Assert.Equal((0, null), (s.Lookups, s.P50Ms)));
        Assert.Empty(stats.Silos);
        Assert.Empty(stats.Processes);
        Assert.Single((await grain.GetAsync(0)).Seconds);
        Assert.Equal(598, (await grain.GetAsync(int.MaxValue)).Seconds.Length);
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    private static SecondStats At(ClusterStats stats, long second) => Assert.Single(stats.Seconds, s => s.Second == second);

    private static long[] Latency(params (int Bucket, long Count)[] counts)
    {
        var buckets = new long[Buckets];
        foreach (var (bucket, count) in counts)
        {
            buckets[bucket] = count;
        }

        return buckets;
    }

    // Reports of one run of a process carry the same instance; a restart brings a new one.
    private static readonly Guid FirstRun = Guid.NewGuid();

    private static ProcessReport Report(
        string process, string? silo, long second, long lookups = 0, long nearHits = 0, long grainHits = 0, long misses = 0,
        long upstreamCalls = 0, long upstreamErrors = 0, long userInvalidations = 0, long sessionInvalidations = 0, long live = 0, long[]? latency = null,
        Guid? instance = null) =>
        new(process, silo, second, lookups, nearHits, grainHits, misses, upstreamCalls, upstreamErrors, userInvalidations, sessionInvalidations, live, latency ?? Latency(),
            instance ?? FirstRun);
}
