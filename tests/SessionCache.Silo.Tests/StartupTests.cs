using System.Diagnostics;
using System.Net;

namespace SessionCache.Silo.Tests;

/// <summary>
/// The standalone silo as an operator starts it, as a process: every wrong setting stops it
/// before it joins a cluster, with exit code 2 (configuration) or 3 (a dependency unreachable) and
/// one line naming the key on standard error, never a stack trace there.
/// </summary>
public sealed class StartupTests
{
    private const string Secret = "startup-test-secret-0123456789abcdef";

    [Theory]
    [InlineData("SessionCache__Mode=Local", "SessionCache:Mode is Local with the Jwt strategy, but no secret is set: set AUTH_SECRET")]
    [InlineData("SessionCache__Mode=Proxy|SessionCache__Upstream=http://auth.example.com/api/auth", "SessionCache:Upstream must use https")]
    [InlineData("SessionCache__Mode=Local|AUTH_SECRET=" + Secret + "|Cluster__Membership=Consul", "Cluster:Membership is 'Consul'; it must be one of: Localhost, Redis.")]
    [InlineData("SessionCache__Mode=Remote|AUTH_SECRET=" + Secret, "SessionCache:Mode is 'Remote'; it must be one of: None, Local, Proxy.")]
    [InlineData("AUTH_SECRET=" + Secret, "No Auth.js session resolution mode is configured")]
    [InlineData("SessionCache__Mode=Local|AUTH_SECRET=" + Secret + "|Cluster__Membership=Redis", "Cluster:Membership=Redis needs Cluster:ConnectionString")]
    public async Task AMisconfiguredSiloExitsWithCode2NamingTheKey(string settings, string expected)
    {
        var run = await RunSiloAsync(settings.Split('|'));

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("Cannot start: the configuration is invalid.", run.StandardError, StringComparison.Ordinal);
        Assert.Contains(expected, run.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASiloWhoseRedisDoesNotAnswerSaysWhereItLookedAndExitsWithCode3()
    {
        var closed = TestSilo.FreePort();
        var run = await RunSiloAsync(
            "SessionCache__Mode=Local", "AUTH_SECRET=" + Secret, "Cluster__Membership=Redis",
            $"Cluster__ConnectionString=127.0.0.1:{closed},password=hunter2-redis", "Cluster__StartupTimeout=00:00:06");

        Assert.Equal(3, run.ExitCode);
        Assert.Contains($"Cannot reach Redis at 127.0.0.1:{closed} (Cluster:ConnectionString) within 6 s", run.StandardError, StringComparison.Ordinal);
        Assert.Contains($"Waiting for Redis at 127.0.0.1:{closed}", run.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-redis", run.StandardError + run.StandardOutput, StringComparison.Ordinal);

        // It never got as far as listening for other silos.
        Assert.DoesNotContain("Silo is now Active", run.StandardOutput, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task ASiloWhoseSessionDatabaseDoesNotAnswerExitsWithCode3()
    {
        var closed = TestSilo.FreePort();
        var run = await RunSiloAsync(
            "SessionCache__Mode=Local", "SessionCache__Strategy=Database",
            $"SessionCache__ConnectionString=Host=127.0.0.1;Port={closed};Username=authjs;Password=hunter2-pg;Database=authjs;Timeout=3");

        Assert.Equal(3, run.ExitCode);
        Assert.Contains("Cannot reach the session database (SessionCache:ConnectionString)", run.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2-pg", run.StandardError + run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASessionDatabaseWithoutTheAdapterTablesIsNamedAtStart()
    {
        var database = Environment.GetEnvironmentVariable("SESSIONCACHE_TEST_PG")
            ?? throw new InvalidOperationException("SESSIONCACHE_TEST_PG is not set: run the tests through scripts/test.sh, which starts PostgreSQL.");
        var run = await RunSiloAsync(
            "SessionCache__Mode=Local", "SessionCache__Strategy=Database",
            "SessionCache__ConnectionString=" + database, "SessionCache__Database__SessionsTable=auth_sessions_missing");

        Assert.Equal(3, run.ExitCode);
        Assert.Contains("SessionCache:Database:SessionsTable 'auth_sessions_missing'", run.StandardError, StringComparison.Ordinal);
        Assert.Contains("auth_sessions_missing", run.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASiloWithItsSessionDatabaseReachableStarts()
    {
        var database = Environment.GetEnvironmentVariable("SESSIONCACHE_TEST_PG")
            ?? throw new InvalidOperationException("SESSIONCACHE_TEST_PG is not set: run the tests through scripts/test.sh, which starts PostgreSQL.");
        var port = TestSilo.FreePort();
        using var silo = TestSilo.StartProcess(port, Settings("SessionCache__Mode=Local", "SessionCache__Strategy=Database", "SessionCache__ConnectionString=" + database));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        var ready = await silo.WaitReadyAsync(http);
        using var live = await http.GetAsync(new Uri("health/live", UriKind.Relative));

        Assert.Contains("active cluster member", ready, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    private static Dictionary<string, string> Settings(params string[] settings) =>
        settings.Select(static setting => setting.Split('=', 2)).ToDictionary(static pair => pair[0], static pair => pair[1]);

    private static async Task<(int ExitCode, string StandardOutput, string StandardError)> RunSiloAsync(params string[] settings)
    {
        using var process = Process.Start(TestSilo.ProcessStartInfo(TestSilo.FreePort(), Settings(settings)))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("The silo neither started nor stopped within 90 s: it should have refused to start. Output: " + await output);
        }

        return (process.ExitCode, await output, await error);
    }
}
