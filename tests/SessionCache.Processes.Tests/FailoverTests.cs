using System.Diagnostics;
using SessionCache.Processes.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SessionCache.Processes.Tests;

[Collection(ProcessClusterCollection.Name)]
public sealed class FailoverTests(ProcessCluster cluster, ITestOutputHelper output) : IAsyncLifetime
{
    // xUnit creates the class for each test: what the processes reported before this test is not its doing.
    private readonly int[] _unhandledBefore = cluster.UnhandledExceptionMark();

    public Task InitializeAsync() => cluster.HealAsync();

    public Task DisposeAsync() => cluster.HealAsync();

    [Fact]
    public async Task A_killed_silos_sessions_come_back_on_the_survivors_resolved_once_each_and_its_return_resolves_nothing()
    {
        var sessions = await cluster.SignInManyAsync("failover", 150);

        // Every session cached in a grain somewhere, through the client without a near cache
        // (waiting out a circuit breaker an earlier test's upstream faults may have left open).
        await Eventually.TrueAsync(async () => (await cluster.SweepAsync(sessions)).All(static o => o == FrontOutcome.Session), "every session to be cached");
        await cluster.ResetUpstreamCallsAsync();

        await using var load = new Load(cluster, sessions);
        // Placement spreads the sessions unevenly; kill the silo that holds the most of them.
        var (victim, held) = await cluster.NodeHoldingMostSessionsAsync();
        Assert.True(held > 0, "no silo holds a session grain");
        var killedAt = Stopwatch.StartNew();
        victim.Kill();

        // Until the cluster declares the silo dead, lookups of its sessions fail (never "no
        // session"); then each comes back, on a survivor.
        var recoveredAfter = TimeSpan.Zero;
        var last = "";
        try
        {
            await Eventually.TrueAsync(
                async () =>
                {
                    var outcomes = await cluster.SweepAsync(sessions);
                    Assert.DoesNotContain(FrontOutcome.NoSession, outcomes);
                    recoveredAfter = killedAt.Elapsed;
                    last = string.Join(", ", outcomes.GroupBy(static o => o).Select(static g => $"{g.Key}={g.Count()}"));
                    return outcomes.All(static o => o == FrontOutcome.Session);
                },
                "every session of the killed silo to be served again",
                timeoutSeconds: 30);
        }
        catch (Exception)
        {
            output.WriteLine($"last sweep: {last}");
            foreach (var node in cluster.Nodes)
            {
                output.WriteLine($"--- {node.Name}\n{node.Tail}");
            }

            throw;
        }

        var afterKill = await cluster.UpstreamCallsAsync();
        output.WriteLine($"{victim.Name} killed holding {held} session grains: every session served again after {recoveredAfter.TotalSeconds:0.0} s; re-resolved {afterKill.Count} of {sessions.Count} sessions, at most {afterKill.MaxPerSession} time(s) each");
        Assert.InRange(afterKill.Count, 1, sessions.Count);
        Assert.Equal(1, afterKill.MaxPerSession);

        // The silo comes back under load: joining moves no session, so nothing is resolved again.
        await cluster.RestartAsync(victim);
        var joined = await cluster.UpstreamCallsAsync();
        Assert.All(await cluster.SweepAsync(sessions), static o => Assert.Equal(FrontOutcome.Session, o));
        var afterJoin = await cluster.UpstreamCallsAsync();
        var report = await load.StopAsync();
        output.WriteLine($"silo restarted: {afterJoin.Count - afterKill.Count} resolutions while it joined and after; load: {report}");
        Assert.Equal(1, afterJoin.MaxPerSession);
        Assert.Equal(afterKill.Count, joined.Count);
        Assert.Equal(0, load.RevokedServed);
        Assert.Equal(0, load.WronglyRefused);
        cluster.AssertNoUnhandledExceptionsSince(_unhandledBefore);
    }
}
