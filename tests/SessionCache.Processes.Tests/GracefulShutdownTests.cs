using System.Diagnostics;
using SessionCache.Processes.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SessionCache.Processes.Tests;

/// <summary>
/// SIGTERM, as docker stop and Kubernetes send it: the silo leaves the cluster on its own (the
/// others need not detect a failure), hands its sessions over and exits 0, and nobody using the
/// cluster meanwhile sees a failed lookup.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class GracefulShutdownTests(ProcessCluster cluster, ITestOutputHelper output) : IAsyncLifetime
{
    // xUnit creates the class for each test: what the processes reported before this test is not its doing.
    private readonly int[] _unhandledBefore = cluster.UnhandledExceptionMark();

    public Task InitializeAsync() => cluster.HealAsync();

    public Task DisposeAsync() => cluster.HealAsync();

    [Fact]
    public async Task A_silo_sent_SIGTERM_leaves_cleanly_under_load_without_a_failed_lookup()
    {
        var sessions = await cluster.SignInManyAsync("sigterm", 120);

        await Eventually.TrueAsync(async () => (await cluster.SweepAsync(sessions)).All(static o => o == FrontOutcome.Session), "every session to be cached");
        await using var load = new Load(cluster, sessions);
        await Eventually.TrueAsync(() => Task.FromResult(load.Served > 2_000), "the load to get going");

        var (victim, held) = await cluster.NodeHoldingMostSessionsAsync();
        Assert.True(held > 0, "no silo holds a session grain");
        var stopping = Stopwatch.StartNew();
        victim.Terminate();
        var exitCode = await victim.WaitForExitAsync(TimeSpan.FromSeconds(45));
        var stoppedAfter = stopping.Elapsed;

        // It said goodbye: the membership table has it dead at once, with no votes needed.
        var status = await cluster.MembershipStatusAsync(victim);

        // Its sessions are served by the others, and the load carries on.
        var servedBefore = load.Served;
        Assert.All(await cluster.SweepAsync(sessions), static o => Assert.Equal(FrontOutcome.Session, o));
        await Eventually.TrueAsync(() => Task.FromResult(load.Served > servedBefore + 2_000), "the load to go on after the silo left");
        var report = await load.StopAsync();
        output.WriteLine($"{victim.Name} (holding {held} session grains) exited {exitCode} {stoppedAfter.TotalSeconds:0.0} s after SIGTERM, membership status {status}; load: {report}");

        Assert.Equal(0, exitCode);
        Assert.Equal(SiloStatus.Dead, status);
        Assert.True(load.Failed == 0, $"lookups failed during a graceful shutdown: {report}; {string.Join("; ", load.Examples)}");
        Assert.Equal(0, load.WronglyRefused);
        cluster.AssertNoUnhandledExceptionsSince(_unhandledBefore);
    }
}
