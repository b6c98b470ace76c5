using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;

namespace SessionCache.Cli.Tests;

/// <summary>
/// <c>sessioncache</c> run in process, as <c>Program.cs</c> runs it, against a real silo and the
/// real Auth.js: what it prints, on which stream, and its exit codes.
/// </summary>
[Collection(CliClusterCollection.Name)]
public sealed class CliTests(CliCluster cluster)
{
    [Fact]
    public async Task LookupPrintsTheSessionAuthJsAnswersForTheCookie()
    {
        var cookie = CliCluster.CookieHeader([await cluster.SignInAsync("cli-lookup")]);
        var expected = await cluster.AuthJsSessionAsync(cookie);

        var run = await cluster.RunAsync("lookup", "--cookie", cookie + "; theme=dark");

        Assert.True(run.ExitCode == 0, run.ToString());
        // stdout is the session and nothing else, one line, so that scripts can pipe it to jq.
        Assert.EndsWith("\n", run.Stdout, StringComparison.Ordinal);
        Assert.Single(run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var printed = JsonNode.Parse(run.Stdout)!.AsObject();
        Assert.Equal("cli-lookup", printed["user"]!["name"]!.GetValue<string>());
        // Auth.js recomputes a JWT session's expires on each call; the rest is identical.
        Assert.True(DateTimeOffset.TryParse(printed["expires"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture, out _));
        Assert.Equal(WithoutExpires(expected), WithoutExpires(printed));
        Assert.DoesNotContain(cookie, run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LookupByTokenFindsTheSameSession()
    {
        var session = await cluster.SignInAsync("cli-lookup-token");
        var expected = await cluster.AuthJsSessionAsync(CliCluster.CookieHeader([session]));

        var run = await cluster.RunAsync("lookup", "--token", session.Value);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(WithoutExpires(expected), WithoutExpires(JsonNode.Parse(run.Stdout)));
    }

    [Fact]
    public async Task AGarbageCookieIsNullWithExitCode1AndTheReasonOnStderr()
    {
        var run = await cluster.RunAsync("lookup", "--cookie", "authjs.session-token=this-is-not-a-jwe");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Equal("null", run.Stdout.Trim());
        Assert.Contains("No session: Invalid", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ACookieHeaderWithoutASessionIsNull()
    {
        var run = await cluster.RunAsync("lookup", "--cookie", "theme=dark");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Equal("null", run.Stdout.Trim());
        Assert.Contains("No session: NoSession", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidatingTheUserEndsTheSession()
    {
        var cookie = CliCluster.CookieHeader([await cluster.SignInAsync("cli-signout-user")]);
        Assert.Equal(0, (await cluster.RunAsync("lookup", "--cookie", cookie)).ExitCode);

        var invalidate = await cluster.RunAsync("invalidate", "--user", "user-cli-signout-user");

        Assert.True(invalidate.ExitCode == 0, invalidate.ToString());
        Assert.Equal(string.Empty, invalidate.Stdout);
        Assert.Contains("Signed out user 'user-cli-signout-user'", invalidate.Stderr, StringComparison.Ordinal);
        // Auth.js itself still accepts the cookie: only the cluster refuses it now.
        Assert.NotNull(await cluster.AuthJsSessionAsync(cookie));
        var lookup = await cluster.RunAsync("lookup", "--cookie", cookie);
        Assert.True(lookup.ExitCode == 1, lookup.ToString());
        Assert.Equal("null", lookup.Stdout.Trim());
        Assert.Contains("Revoked", lookup.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidatingOneTokenEndsThatSessionOnly()
    {
        var first = await cluster.SignInAsync("cli-signout-token");
        var second = await cluster.SignInAsync("cli-signout-token");
        Assert.NotEqual(first.Value, second.Value);

        var invalidate = await cluster.RunAsync("invalidate", "--token", first.Value);

        Assert.True(invalidate.ExitCode == 0, invalidate.ToString());
        Assert.Contains("Signed out the session", invalidate.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(first.Value, invalidate.Stderr, StringComparison.Ordinal);
        var ended = await cluster.RunAsync("lookup", "--token", first.Value);
        Assert.True(ended.ExitCode == 1, ended.ToString());
        Assert.Equal("null", ended.Stdout.Trim());
        var other = await cluster.RunAsync("lookup", "--token", second.Value);
        Assert.True(other.ExitCode == 0, other.ToString());
    }

    [Fact]
    public async Task StatusJsonListsTheSiloWithItsLiveSessionsAfterALookup()
    {
        // First the silo's own reports must have reached the stats grain: counts are the
        // differences between a process' reports, so a lookup before its first one is not seen.
        var before = await PollStatusAsync(static status => status["processes"]!.AsArray().Any(static p => p!["silo"] is not null), "the silo reporting");
        var liveBefore = before["silos"]![0]!["liveSessions"]?.GetValue<long>() ?? 0;
        var cookie = CliCluster.CookieHeader([await cluster.SignInAsync("cli-status")]);
        Assert.Equal(0, (await cluster.RunAsync("lookup", "--cookie", cookie)).ExitCode);

        // The new session is cached by a grain on the silo, which reports it within a second or two.
        var status = await PollStatusAsync(
            status => status["silos"]![0]!["liveSessions"]?.GetValue<long>() >= Math.Max(1, liveBefore + 1) && status["misses"]!.GetValue<long>() >= 1,
            $"one more live session than {liveBefore}, and a miss");

        var silo = Assert.Single(status["silos"]!.AsArray())!;
        Assert.Equal($"127.0.0.1:{cluster.SiloPort}", silo["address"]!.GetValue<string>());
        Assert.Equal("Active", silo["status"]!.GetValue<string>());
        Assert.True(DateTimeOffset.Parse(silo["startTime"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) <= DateTimeOffset.UtcNow);
        Assert.True(status["statsAvailable"]!.GetValue<bool>());
        Assert.Contains(status["processes"]!.AsArray(), p => p!["process"]!.GetValue<string>() == $"silo 127.0.0.1:{cluster.SiloPort}");
        var hitRatio = status["hitRatio"]!.GetValue<double>();
        Assert.InRange(hitRatio, 0, 1);
        Assert.True(status["lookupsPerSecond"]!.GetValue<double>() >= 0);
    }

    [Fact]
    public async Task StatusTableShowsTheSilo()
    {
        var run = await cluster.RunAsync("status");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"127.0.0.1:{cluster.SiloPort}", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("Active", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("Hit ratio", run.Stdout, StringComparison.Ordinal);
        // Plain text when not a terminal: no escape sequences in files and pipes.
        Assert.DoesNotContain("\u001b[", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutAGatewayItSaysWhatItWaitedForAndExits3WithinTheTimeout()
    {
        var port = CliCluster.FreePort();

        var run = await CliCluster.RunCliAsync(["--gateway", $"127.0.0.1:{port}", "--timeout", "3", "lookup", "--cookie", "authjs.session-token=x"], CliCluster.EmptyEnvironment);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal(string.Empty, run.Stdout);
        Assert.True(run.Elapsed >= TimeSpan.FromSeconds(2.5), run.ToString());
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(15), run.ToString());
        Assert.Contains($"Waiting for the cluster: gateway 127.0.0.1:{port} (Cluster:Gateways) ...", run.Stderr, StringComparison.Ordinal);
        Assert.True(run.Stderr.Contains($"No gateway answered within 3 s at 127.0.0.1:{port} (Cluster:Gateways); is a silo running? (see docs/cli.md)", StringComparison.Ordinal), run.ToString());
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithRedisUnreachableItNamesRedisButNeverThePassword()
    {
        var port = CliCluster.FreePort();

        var run = await CliCluster.RunCliAsync(["--redis", $"127.0.0.1:{port},password=s3cret-pw", "--timeout", "3", "status"], CliCluster.EmptyEnvironment);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Equal(string.Empty, run.Stdout);
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(20), run.ToString());
        Assert.Contains($"Waiting for the cluster: gateways listed in Redis at 127.0.0.1:{port} (Cluster:ConnectionString) ...", run.Stderr, StringComparison.Ordinal);
        Assert.Contains($"No gateway answered within 3 s at the gateways listed in Redis at 127.0.0.1:{port}", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-pw", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancellingTheRunStopsWaitingAtOnce()
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var exitCode = await CliApplication.RunAsync(["--gateway", $"127.0.0.1:{CliCluster.FreePort()}", "--timeout", "60", "status"], stdout, stderr, cancel.Token, CliCluster.EmptyEnvironment);

        Assert.Equal(130, exitCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.Contains("Cancelled.", stderr.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "lookup" }, "'lookup' needs --cookie or --token")]
    [InlineData(new[] { "lookup", "--cookie", "a=b", "--token", "t" }, "'lookup' takes only one of --cookie or --token")]
    [InlineData(new[] { "lookup", "--cookie", "a=b", "--cookie-name", "x" }, "--cookie-name goes with --token")]
    [InlineData(new[] { "invalidate" }, "'invalidate' needs --user or --token")]
    [InlineData(new[] { "invalidate", "--user", "u", "--token", "t" }, "'invalidate' takes only one of --user or --token")]
    [InlineData(new[] { "--timeout", "0", "status" }, "--timeout must be between 1 and 3600 seconds")]
    [InlineData(new[] { "status", "--bogus" }, "Unrecognized command or argument '--bogus'")]
    [InlineData(new string[0], "Required command was not provided")]
    public async Task UsageErrorsExitWith2BeforeConnecting(string[] args, string expected)
    {
        var run = await CliCluster.RunCliAsync(args, CliCluster.EmptyEnvironment);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains(expected, run.Stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, run.Stdout);
        Assert.DoesNotContain("Waiting for the cluster", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMalformedRedisConnectionStringExits2NamingTheKeyButNotThePassword()
    {
        var run = await CliCluster.RunCliAsync(["--redis", "redis-host:6379,password=hunter2-secret,colour=blue", "status"], CliCluster.EmptyEnvironment);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("Cluster:ConnectionString is not a Redis connection string", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("colour", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.True(run.Elapsed < TimeSpan.FromSeconds(10), "no connection was attempted: " + run);
    }

    [Fact]
    public async Task BadConfigurationFromTheEnvironmentExits2NamingTheKey()
    {
        var badGateway = await CliCluster.RunCliAsync(["status"], Environment(("Cluster:Gateways:0", "not-a-gateway")));
        var badMembership = await CliCluster.RunCliAsync(["status"], Environment(("Cluster:Membership", "Zookeeper")));

        Assert.True(badGateway.ExitCode == 2, badGateway.ToString());
        Assert.Contains("Cluster:Gateways contains 'not-a-gateway'", badGateway.Stderr, StringComparison.Ordinal);
        Assert.True(badMembership.ExitCode == 2, badMembership.ToString());
        Assert.Contains("'Cluster:Membership'", badMembership.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATokenGivenWithoutItsOptionIsNotEchoed()
    {
        var token = (await cluster.SignInAsync("cli-echo")).Value;

        var run = await cluster.RunAsync("lookup", token);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.DoesNotContain(token, run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(token[..20], run.Stderr, StringComparison.Ordinal);
        Assert.Contains("characters, not shown", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GatewaysOnTheCommandLineReplaceTheEnvironmentsList()
    {
        // Two dead gateways from the environment; --gateway must replace both, not only the first.
        var environment = Environment(("Cluster:Gateways:0", "127.0.0.1:1"), ("Cluster:Gateways:1", "127.0.0.1:2"), ("Cluster:ClusterId", cluster.ClusterId));

        var run = await CliCluster.RunCliAsync(["--gateway", cluster.Gateway, "--timeout", "30", "status", "--json"], environment);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal($"127.0.0.1:{cluster.SiloPort}", JsonNode.Parse(run.Stdout)!["silos"]![0]!["address"]!.GetValue<string>());
    }

    [Fact]
    public async Task EnvironmentVariablesConfigureItLikeAnyClient()
    {
        // The real path: the process' environment variables, ASP.NET Core style. This collection
        // runs its tests one at a time, so no other test sees these.
        string[] names = ["Cluster__Gateways__0", "Cluster__ClusterId"];
        System.Environment.SetEnvironmentVariable(names[0], cluster.Gateway);
        System.Environment.SetEnvironmentVariable(names[1], cluster.ClusterId);
        try
        {
            var run = await CliCluster.RunCliAsync(["status", "--json"], environment: null);

            Assert.True(run.ExitCode == 0, run.ToString());
            Assert.Equal($"127.0.0.1:{cluster.SiloPort}", JsonNode.Parse(run.Stdout)!["silos"]![0]!["address"]!.GetValue<string>());
        }
        finally
        {
            foreach (var name in names)
            {
                System.Environment.SetEnvironmentVariable(name, null);
            }
        }
    }

    private async Task<JsonNode> PollStatusAsync(Func<JsonNode, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var run = await cluster.RunAsync("status", "--json");
            Assert.True(run.ExitCode == 0, run.ToString());
            var status = JsonNode.Parse(run.Stdout)!;
            if (condition(status))
            {
                return status;
            }

            Assert.True(DateTime.UtcNow < deadline, $"status --json never showed {what}: {run.Stdout}");
            await Task.Delay(250);
        }
    }

    private static IConfiguration Environment(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(static s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build();

    private static string? WithoutExpires(JsonNode? session)
    {
        if (session is not JsonObject json)
        {
            return session?.ToJsonString();
        }

        var copy = JsonNode.Parse(json.ToJsonString())!.AsObject();
        copy.Remove("expires");
        return copy.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
    }
}
