using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

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
        var closed = ClosedPort();
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
        var closed = ClosedPort();
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
        var port = ClosedPort();
        using var silo = StartSilo(
            $"--urls=http://127.0.0.1:{port}",
            "SessionCache__Mode=Local", "SessionCache__Strategy=Database", "SessionCache__ConnectionString=" + database);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        var ready = await PollAsync(http, "health/ready", silo);
        using var live = await http.GetAsync(new Uri("health/live", UriKind.Relative));

        Assert.Contains("active cluster member", ready, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    private static async Task<string> PollAsync(HttpClient http, string path, RunningSilo silo)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (true)
        {
            Assert.False(silo.HasExited, "the silo exited while starting");
            try
            {
                using var response = await http.GetAsync(new Uri(path, UriKind.Relative), timeout.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return await response.Content.ReadAsStringAsync(timeout.Token);
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200, timeout.Token);
        }
    }

    private static RunningSilo StartSilo(params string[] settings)
    {
        var process = Process.Start(SiloStartInfo(settings))!;
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new RunningSilo(process);
    }

    private static ProcessStartInfo SiloStartInfo(string[] settings)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SessionCache.Silo.dll"));

        // Nothing from the test runner's environment decides the outcome, and no two runs share ports.
        foreach (var key in start.Environment.Keys.Where(static k => k.StartsWith("SessionCache__", StringComparison.Ordinal)
            || k.StartsWith("Cluster__", StringComparison.Ordinal) || k.StartsWith("AUTH_SECRET", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["Cluster__SiloPort"] = ClosedPort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["Cluster__GatewayPort"] = ClosedPort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        start.Environment["Cluster__ClusterId"] = "startup-" + Guid.NewGuid().ToString("N");
        var urls = "--urls=http://127.0.0.1:0";
        foreach (var setting in settings)
        {
            if (setting.StartsWith("--urls=", StringComparison.Ordinal))
            {
                urls = setting;
                continue;
            }

            var equals = setting.IndexOf('=', StringComparison.Ordinal);
            start.Environment[setting[..equals]] = setting[(equals + 1)..];
        }

        start.ArgumentList.Add(urls);
        return start;
    }

    private static async Task<(int ExitCode, string StandardOutput, string StandardError)> RunSiloAsync(params string[] settings)
    {
        using var process = Process.Start(SiloStartInfo(settings))!;
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

    /// <summary>A port nothing listens on (it was free a moment ago).</summary>
    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Kills the silo when the test ends, however it ends.</summary>
    private sealed class RunningSilo(Process process) : IDisposable
    {
        public bool HasExited => process.HasExited;

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }

            process.Dispose();
        }
    }
}
