using System.Diagnostics;
using System.Net;
using SessionCache.Processes.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SessionCache.Processes.Tests;

/// <summary>
/// The sign-out guarantee (docs/design.md): once a sign-out returns success, no live process serves any of
/// the user's sessions, from a grain or from a near cache; a process that could not be told stops
/// serving within its lease; and the revocation outlives every silo and a Redis crash.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class SignOutGuaranteeTests(ProcessCluster cluster, ITestOutputHelper output) : IAsyncLifetime
{
    // xUnit creates the class for each test: what the processes reported before this test is not its doing.
    private readonly int[] _unhandledBefore = cluster.UnhandledExceptionMark();

    public Task InitializeAsync() => cluster.HealAsync();

    public Task DisposeAsync() => cluster.HealAsync();

    [Fact]
    public async Task Once_the_endpoint_confirms_no_process_serves_the_users_sessions_from_any_cache()
    {
        var (user, cookies) = await SignInAsync(2);
        var (_, bystander) = await SignInAsync(1);
        await WarmEverywhereAsync([.. cookies, .. bystander]);

        using var response = await cluster.Silos[1].InvalidateAsync(new { userId = user });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        foreach (var cookie in cookies)
        {
            Assert.True(await cluster.AuthJsAcceptsAsync(cookie), "Auth.js itself still accepts the cookie: only the cluster knows of the sign-out");
            Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.Equal(FrontOutcome.NoSession, a.Outcome));
        }

        Assert.All(await cluster.LookUpEverywhereAsync(bystander[0]), static a => Assert.Equal(FrontOutcome.Session, a.Outcome));
    }

    [Fact]
    public async Task A_paused_silo_does_not_hold_up_a_sign_out_beyond_its_lease_nor_serve_the_session_when_it_wakes()
    {
        var (user, cookies) = await SignInAsync(1);
        await WarmEverywhereAsync(cookies);

        // The hardest silo to pause is the one holding the user's own grain: the sign-out then goes
        // through a new activation elsewhere, while the paused one keeps the old record in memory.
        var holder = await cluster.NodeHoldingUserGrainAsync(user);
        var holdsUserGrain = holder is not null && cluster.Silos.Contains(holder);
        var paused = holdsUserGrain ? holder! : cluster.Silos[2];
        output.WriteLine($"pausing {paused.Name}{(holdsUserGrain ? ", which holds the user's grain" : " (the user's grain is elsewhere)")}");
        paused.Pause();
        var took = Stopwatch.StartNew();
        try
        {
            // Through a client: the silo holding the user's grain may be the paused one, which the
            // client retries past once the cluster declares it dead.
            try
            {
                await cluster.Client.InvalidateUserAsync(user);
            }
            catch (Exception exception)
            {
                output.WriteLine($"sign-out with a paused silo failed after {took.Elapsed.TotalSeconds:0.0} s: {exception.GetType().Name}: {exception.Message}");
                throw;
            }

            took.Stop();
            output.WriteLine($"sign-out with a paused silo confirmed after {took.Elapsed.TotalSeconds:0.0} s (lease {ProcessCluster.Lease.TotalSeconds} s)");
            Assert.True(took.Elapsed < ProcessCluster.Lease + TimeSpan.FromSeconds(20), $"the sign-out took {took.Elapsed}");
            foreach (var answer in await cluster.LookUpEverywhereAsync(cookies[0]))
            {
                Assert.NotEqual(FrontOutcome.Session, answer.Outcome);
            }
        }
        finally
        {
            paused.Resume();
        }

        // Awake again, the silo has missed the notice; whatever it answers (it may also find itself
        // declared dead and stop), it never serves the session.
        var watched = Stopwatch.StartNew();
        var answers = new List<FrontOutcome>();
        while (watched.Elapsed < ProcessCluster.Lease && paused.IsRunning)
        {
            answers.Add((await paused.SessionAsync(cookies[0])).Outcome);
        }

        output.WriteLine($"woken silo answered: {string.Join(", ", answers.GroupBy(static a => a).Select(static g => $"{g.Key}={g.Count()}"))}");
        Assert.DoesNotContain(FrontOutcome.Session, answers);
    }

    [Fact]
    public async Task A_killed_silo_whichever_it_is_delays_no_later_sign_out_beyond_ten_seconds()
    {
        for (var trial = 0; trial < cluster.Silos.Count; trial++)
        {
            var users = new List<(string User, List<string> Cookies)>();
            for (var i = 0; i < 3; i++)
            {
                users.Add(await SignInAsync(1));
            }

            await WarmEverywhereAsync(users.SelectMany(static u => u.Cookies));
            var victim = cluster.Silos[trial];
            var survivor = cluster.Silos[(trial + 1) % cluster.Silos.Count];
            var killed = Stopwatch.StartNew();
            victim.Kill();

            // Once the cluster serves the sessions again (it has declared the silo dead), every
            // sign-out through a survivor returns within 10 s and is refused everywhere.
            var sessions = users.Select(static u => (u.User, u.Cookies[0])).ToList();
            await Eventually.TrueAsync(async () => await cluster.MembershipStatusAsync(victim) == SiloStatus.Dead, "the cluster to declare the killed silo dead", timeoutSeconds: 30);
            await Eventually.TrueAsync(async () => (await cluster.SweepAsync(sessions)).All(static o => o == FrontOutcome.Session), "the sessions to be served again after the kill", timeoutSeconds: 30);
            var servedAgainAfter = killed.Elapsed;
            var took = new List<TimeSpan>();
            foreach (var (user, cookies) in users)
            {
                var signOut = Stopwatch.StartNew();
                using var response = await survivor.InvalidateAsync(new { userId = user });
                took.Add(signOut.Elapsed);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.All(await cluster.LookUpEverywhereAsync(cookies[0]), static a => Assert.NotEqual(FrontOutcome.Session, a.Outcome));
            }

            output.WriteLine($"{victim.Name} killed: sessions served again after {servedAgainAfter.TotalSeconds:0.0} s; sign-outs then took {string.Join(", ", took.Select(static t => $"{t.TotalSeconds:0.00} s"))}");
            Assert.All(took, static t => Assert.True(t < TimeSpan.FromSeconds(10), $"a sign-out took {t.TotalSeconds:0.0} s after a silo's death"));
            await cluster.RestartAsync(victim);
            await cluster.HealAsync();
        }
    }

    [Fact]
    public async Task A_revocation_outlives_every_silo_and_a_redis_crash()
    {
        var (user, cookies) = await SignInAsync(1);
        await WarmEverywhereAsync(cookies);
        await cluster.Client.InvalidateUserAsync(user);

        // Every silo SIGKILLed at once, the one holding the user's grain among them: only Redis
        // remembers. The new silos must refuse a cookie Auth.js still accepts.
        foreach (var node in cluster.Nodes)
        {
            node.Kill();
        }

        await cluster.HealAsync();
        Assert.True(await cluster.AuthJsAcceptsAsync(cookies[0]));
        Assert.All(await cluster.LookUpEverywhereAsync(cookies[0]), static a => Assert.Equal(FrontOutcome.NoSession, a.Outcome));

        // Redis SIGKILLed (no shutdown save: only the fsynced append-only file remains), and the
        // silos with it, so nothing survives in memory anywhere.
        cluster.Redis.Kill();
        foreach (var node in cluster.Nodes)
        {
            node.Kill();
        }

        await cluster.HealAsync();
        Assert.All(await cluster.LookUpEverywhereAsync(cookies[0]), static a => Assert.Equal(FrontOutcome.NoSession, a.Outcome));
        cluster.AssertNoUnhandledExceptionsSince(_unhandledBefore);
    }

    private async Task<(string User, List<string> Cookies)> SignInAsync(int sessions)
    {
        var user = "signout-" + Guid.NewGuid().ToString("N")[..8];
        var cookies = new List<string>();
        for (var i = 0; i < sessions; i++)
        {
            cookies.Add(await cluster.SignInAsync(user));
        }

        return (user, cookies);
    }

    /// <summary>Each cookie served through every path, so each process' near cache holds it.</summary>
    private async Task WarmEverywhereAsync(IEnumerable<string> cookies)
    {
        foreach (var cookie in cookies)
        {
            await Eventually.TrueAsync(async () => (await cluster.LookUpEverywhereAsync(cookie)).All(static a => a.Outcome == FrontOutcome.Session), "the session to be served on every path");
        }
    }
}
