using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using SessionCache.AuthJs;
using SessionCache.Processes.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SessionCache.Processes.Tests;

/// <summary>
/// Faults under load, each reporting what it checked: revoked sessions served (must be 0),
/// revocations lost (0), lookups failed and over how long, unhandled exceptions (0).
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class FaultCampaignTests(ProcessCluster cluster, ITestOutputHelper output) : IAsyncLifetime
{
    // xUnit creates the class for each test: what the processes reported before this test is not its doing.
    private readonly int[] _unhandledBefore = cluster.UnhandledExceptionMark();

    public Task InitializeAsync() => cluster.HealAsync();

    public Task DisposeAsync() => cluster.HealAsync();

    [Fact]
    public Task Silo_killed_and_restarted_under_load_with_sign_outs_in_flight() =>
        RunAsync("silo SIGKILL and restart", async (signOuts, _) =>
        {
            await signOuts.ReachedAsync(10);
            cluster.Silos[1].Kill();
            await signOuts.ReachedAsync(20);
            await cluster.RestartAsync(cluster.Silos[1]);
        });

    [Fact]
    public Task Redis_killed_and_restarted_under_load_with_sign_outs_in_flight() =>
        RunAsync("redis SIGKILL and restart", async (signOuts, _) =>
        {
            await signOuts.ReachedAsync(10);
            cluster.Redis.Kill();

            // Sign-outs cannot be made durable now: they fail, are not confirmed, and are retried,
            // alternately through the API and the endpoint (two failures of each).
            await signOuts.FailedAtLeastAsync(4);
            await cluster.Redis.StartAsync();
        });

    [Theory]
    [InlineData("500")]
    [InlineData("429")]
    [InlineData("hang")]
    [InlineData("refused")]
    public async Task Upstream_failing_is_never_no_session_and_never_cached(string fault)
    {
        var cached = await cluster.SignInAsync("cached-" + Guid.NewGuid().ToString("N")[..8]);
        var fresh = await cluster.SignInAsync("fresh-" + Guid.NewGuid().ToString("N")[..8]);
        await Eventually.TrueAsync(async () => (await cluster.LookUpEverywhereAsync(cached)).All(static a => a.Outcome == FrontOutcome.Session), "the session to be cached on every path");

        await BreakUpstreamAsync(fault);
        List<(string Path, FrontOutcome Outcome)> during;
        try
        {
            Assert.All(await cluster.LookUpEverywhereAsync(cached), static a => Assert.Equal(FrontOutcome.Session, a.Outcome));
            during = await cluster.LookUpEverywhereAsync(fresh);
        }
        finally
        {
            await HealUpstreamAsync(fault);
        }

        // A new session could not be resolved: an error everywhere, never "no session".
        Assert.All(during, static a => Assert.Equal(FrontOutcome.Failed, a.Outcome));

        // Nothing of the failure was kept: once Auth.js answers again (the proxy's circuit breaker
        // may hold a few seconds), every path resolves the session.
        var healed = Stopwatch.StartNew();
        await Eventually.TrueAsync(
            async () => (await cluster.LookUpEverywhereAsync(fresh)).All(static a => a.Outcome == FrontOutcome.Session),
            "the new session to be served once Auth.js answers again",
            90);
        output.WriteLine($"upstream {fault}: cached session served on all {during.Count} paths; the new one failed on all {during.Count} (never 'no session'); served everywhere {healed.Elapsed.TotalSeconds:0.0} s after the upstream healed; unhandled exceptions={cluster.UnhandledExceptionsSince(_unhandledBefore).Count}");
        cluster.AssertNoUnhandledExceptionsSince(_unhandledBefore);
    }

    private async Task BreakUpstreamAsync(string fault)
    {
        if (fault == "refused")
        {
            cluster.Upstream.Stop();
        }
        else
        {
            await cluster.UpstreamFaultAsync(fault);
        }
    }

    private async Task HealUpstreamAsync(string fault)
    {
        if (fault == "refused")
        {
            cluster.Upstream.Start();
        }
        else
        {
            await cluster.UpstreamFaultAsync(null);
        }
    }

    private async Task RunAsync(string name, Func<SignOutDriver, Load, Task> fault)
    {
        var run = Guid.NewGuid().ToString("N")[..6];
        var leakedBefore = cluster.LeakedLineMark();
        var sessions = new List<(string User, string Cookie)>();
        for (var i = 0; i < 40; i++)
        {
            // Shaped like e-mail addresses, as an app's user ids can be: not one may reach a log,
            // including Orleans' own lines about failing user grains and their storage.
            var user = $"campaign-{run}-{i}@users.example";
            sessions.Add((user, await cluster.SignInAsync(user)));
        }

        // The guarantee covers the sessions the cluster has seen (see docs/design.md): each is looked up
        // once before anyone signs out.
        foreach (var (_, cookie) in sessions)
        {
            await Eventually.TrueAsync(
                async () => ProcessCluster.ToOutcome(await cluster.GrainClient.LookupAsync(SessionCache.AuthJs.SessionRequest.FromCookieHeader(cookie))) == FrontOutcome.Session,
                "the session to be cached");
        }

        // Sign-in and sign-out times have whole seconds: the sign-outs begin in a later second than the sign-ins.
        var signedIn = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await Eventually.TrueAsync(() => Task.FromResult(DateTimeOffset.UtcNow.ToUnixTimeSeconds() > signedIn), "the next second");

        // Devices keep polling Auth.js, which re-encodes their cookies (fresh iat and jti) before
        // and after their users sign out: every copy of a signed-out sign-in must stay refused.
        await using var load = new Load(cluster, sessions, rollingDevices: 2);
        var driver = new SignOutDriver(cluster, load, [.. sessions.Take(30).Select(static s => s.User)]);
        var signingOut = driver.RunAsync();
        await fault(driver, load);
        await signingOut;
        await cluster.HealAsync();
        var report = await load.StopAsync();

        // Every confirmed sign-out still holds on every path, after the fault; the others were untouched.
        var lost = 0;
        var wronglyRefused = 0;
        foreach (var (user, cookie) in sessions.Select((s, i) => (s.User, s.Cookie)).Concat(sessions.Select((s, i) => (s.User, load.CurrentCookie(i)))))
        {
            var expected = driver.Confirmed.Contains(user) ? FrontOutcome.NoSession : FrontOutcome.Session;
            var answers = await cluster.LookUpEverywhereAsync(cookie);
            if (answers.Any(a => a.Outcome != expected))
            {
                output.WriteLine($"{user} (expected {expected}): {string.Join(", ", answers.Select(static a => $"{a.Path}={a.Outcome}"))}; {(await cluster.Silos[0].SessionAsync(cookie)).Body}");
            }

            if (expected == FrontOutcome.NoSession)
            {
                lost += answers.Count(static a => a.Outcome == FrontOutcome.Session);
            }
            else
            {
                wronglyRefused += answers.Count(static a => a.Outcome != FrontOutcome.Session);
            }
        }

        if (lost > 0 || load.RevokedServed > 0)
        {
            foreach (var node in cluster.Nodes)
            {
                output.WriteLine($"--- {node.Name}:\n" + string.Join("\n", node.Tail.Split('\n').Where(static l => l.Contains("hub", StringComparison.Ordinal) || l.Contains("near cache", StringComparison.Ordinal))));
            }
        }

        foreach (var example in load.Examples.Take(10))
        {
            output.WriteLine(example);
        }

        foreach (var line in cluster.Auth.ErrorOutput.Where(static l => !l.Contains("Read more", StringComparison.Ordinal)).Take(12))
        {
            output.WriteLine("auth.js: " + line);
        }

        foreach (var (way, told) in driver.FirstFailures)
        {
            output.WriteLine($"first failed sign-out through the {way}: {told}");
        }

        output.WriteLine($"{name}: {report}; sign-outs confirmed={driver.Confirmed.Count} (attempts failed and retried={driver.Failures}); revocations lost={lost}; unhandled exceptions={cluster.UnhandledExceptionsSince(_unhandledBefore).Count}");
        Assert.Equal(30, driver.Confirmed.Count);
        Assert.True(driver.Undocumented.IsEmpty, "sign-outs failed other than the documented way:\n" + string.Join("\n", driver.Undocumented));
        Assert.Equal(0, load.RevokedServed);
        Assert.True(load.Rolled > 0, "no device's cookie was re-encoded by Auth.js");
        Assert.Equal(0, load.WronglyRefused);
        Assert.Equal(0, lost);
        Assert.Equal(0, wronglyRefused);
        cluster.AssertNoUnhandledExceptionsSince(_unhandledBefore);
        var leaked = cluster.LeakedLinesSince(leakedBefore);
        Assert.True(leaked.Count == 0, "sensitive values in the logs:\n" + string.Join('\n', leaked));
    }

    /// <summary>
    /// Signs users out one after another, retrying until confirmed; attempts alternate between the
    /// client API and the HTTP endpoint, so that a fault of any length is met by both.
    /// </summary>
    private sealed class SignOutDriver(ProcessCluster cluster, Load load, IReadOnlyList<string> users)
    {
        private int _attempted;
        private int _failures;

        public HashSet<string> Confirmed { get; } = [];

        public int Failures => Volatile.Read(ref _failures);

        public async Task RunAsync()
        {
            var deadline = Stopwatch.StartNew();
            for (var i = 0; i < users.Count; i++)
            {
                var user = users[i];
                load.SigningOut(user);
                for (var attempt = 0; !await TrySignOutAsync(user, i + attempt); attempt++)
                {
                    Interlocked.Increment(ref _failures);
                    Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(3), "sign-outs kept failing for 3 minutes");
                    await Task.Delay(200);
                }

                load.SignedOut(user);
                Confirmed.Add(user);
                Interlocked.Increment(ref _attempted);
                await Task.Delay(100);
            }
        }

        public Task ReachedAsync(int count) =>
            Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref _attempted) >= count), $"{count} sign-outs", 120);

        public Task FailedAtLeastAsync(int count) =>
            Eventually.TrueAsync(() => Task.FromResult(Volatile.Read(ref _failures) >= count), $"{count} failed sign-out attempts", 120);

        /// <summary>
        /// Failed attempts that did not fail the documented way: the API throws
        /// <see cref="SessionUnavailableException"/>, the endpoint answers 503 with Retry-After,
        /// and neither names the user. (An endpoint on a process that is being killed may drop
        /// the connection instead.)
        /// </summary>
        public ConcurrentQueue<string> Undocumented { get; } = new();

        /// <summary>What a caller was told, the first time each way failed.</summary>
        public ConcurrentDictionary<string, string> FirstFailures { get; } = new();

        // What a caller is told can end up in its logs: it says what failed, never whose sign-out.
        private void NoUserIdIn(string told, string user, string where)
        {
            if (told.Contains(user, StringComparison.Ordinal))
            {
                Undocumented.Enqueue($"{where}: the failure names the user: {told}");
            }
        }

        private async Task<bool> TrySignOutAsync(string user, int turn)
        {
            if (turn % 2 == 0)
            {
                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await cluster.Client.InvalidateUserAsync(user, timeout.Token);
                    return true;
                }
                catch (SessionUnavailableException exception)
                {
                    FirstFailures.TryAdd("client", exception.Message);
                    NoUserIdIn(exception.Message, user, "client");
                    return false;
                }
                catch (Exception exception) when (exception is not Xunit.Sdk.XunitException)
                {
                    Undocumented.Enqueue($"client: {exception.GetType().Name}: {exception.Message}");
                    return false;
                }
            }

            var node = cluster.Nodes.Where(static n => n.IsRunning).ElementAt(turn % cluster.Nodes.Count(static n => n.IsRunning));
            try
            {
                using var response = await node.InvalidateAsync(new { userId = user });
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return true;
                }

                var body = await response.Content.ReadAsStringAsync();
                FirstFailures.TryAdd("endpoint", $"HTTP {(int)response.StatusCode} {body}");
                NoUserIdIn(body, user, node.Name);
                if (response.StatusCode != HttpStatusCode.ServiceUnavailable || response.Headers.RetryAfter is null || !body.Contains("\"session_unavailable\"", StringComparison.Ordinal))
                {
                    Undocumented.Enqueue($"{node.Name}: HTTP {(int)response.StatusCode} (Retry-After: {response.Headers.RetryAfter}) {body}");
                }

                return false;
            }
            catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
            {
                // The connection broke (the process was killed) or the attempt outlasted 30 s.
                return false;
            }
        }
    }
}
