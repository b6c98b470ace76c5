using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SessionCache.Client;
using SessionCache.Processes.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SessionCache.Processes.Tests;

/// <summary>
/// A silo process flooded with 90,000 distinct junk session cookies of 8 KB at its session
/// endpoint, as anyone on the network can send them: its memory stays within 150 MB of where it
/// was, the valid sessions it caches keep being served throughout, and once the flood ends no
/// activation is left for the junk. (How fast the valid ones are served during the flood is a
/// benchmark: benchmarks/run-junk-flood.sh.)
/// </summary>
public sealed class JunkFloodTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int JunkCookies = 90_000;
    private const int CookieBytes = 8 * 1024;
    private const long AllowedGrowthBytes = 150L * 1024 * 1024;

    private readonly AuthJsServer _auth = new();
    private ClusterNode _silo = null!;
    private IHost? _client;

    public async Task InitializeAsync()
    {
        await _auth.InitializeAsync();
        SensitiveValues.Add("Auth.js secret", AuthJsServer.Secret0);
        _silo = new ClusterNode("flooded-silo", "src/Silo", "SessionCache.Silo", new Dictionary<string, string>
        {
            ["SessionCache__Mode"] = "Local",
            ["AUTH_SECRET"] = AuthJsServer.Secret0,
            ["Cluster__ClusterId"] = "flood-" + Guid.NewGuid().ToString("N")[..8],
            ["Logging__LogLevel__Default"] = "Warning",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_gcServer"] = "0",
        });
        _silo.Start();
        await _silo.WaitHealthyAsync();
    }

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        await _silo.DisposeAsync();
        await _auth.DisposeAsync();
    }

    [Fact]
    public async Task Ninety_thousand_junk_cookies_leave_memory_flat_and_valid_sessions_served()
    {
        var valid = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            var token = await _auth.MintAsync(new { sub = $"flood-user-{i}", name = "flood", jti = Guid.NewGuid().ToString() }, AuthJsServer.Secret0, maxAge: 3600);
            SensitiveValues.Add("session token", token);
            valid.Add("authjs.session-token=" + token);
        }

        // Warm: every valid session cached, the endpoint's code paths run, junk included.
        foreach (var cookie in valid)
        {
            Assert.Equal(FrontOutcome.Session, (await _silo.SessionAsync(cookie)).Outcome);
        }

        await FloodAsync(2_000, CancellationToken.None);
        var before = ResidentBytes();
        long peak = before;

        using var done = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                peak = Math.Max(peak, ResidentBytes());
                await Task.Delay(100);
            }
        });
        var servedDuringFlood = 0;
        var refusedDuringFlood = new List<string>();
        var prober = Task.Run(async () =>
        {
            for (var i = 0; !done.IsCancellationRequested; i++)
            {
                var answer = await _silo.SessionAsync(valid[i % valid.Count]);
                if (answer.Outcome == FrontOutcome.Session)
                {
                    servedDuringFlood++;
                }
                else
                {
                    refusedDuringFlood.Add(answer.ToString());
                }
            }
        });

        var flood = System.Diagnostics.Stopwatch.StartNew();
        var junkAnswers = await FloodAsync(JunkCookies, CancellationToken.None);
        flood.Stop();
        await done.CancelAsync();
        await Task.WhenAll(sampler, prober);

        output.WriteLine($"flood: {JunkCookies} cookies in {flood.Elapsed.TotalSeconds:0.0} s; resident {before / 1048576} MB before, {peak / 1048576} MB at peak; {servedDuringFlood} valid lookups served meanwhile");
        Assert.Equal(JunkCookies, junkAnswers);
        Assert.True(peak - before <= AllowedGrowthBytes, $"resident memory grew by {(peak - before) / 1048576} MB (from {before / 1048576} MB), more than 150 MB");
        Assert.True(refusedDuringFlood.Count == 0, $"{refusedDuringFlood.Count} valid lookups not served during the flood: {string.Join(", ", refusedDuringFlood.Take(5))}");
        Assert.True(servedDuringFlood > 0, "no valid lookup completed during the flood");

        // Nothing left behind: the session grains are the valid sessions' (and the probe's own).
        var management = (await ClientAsync()).Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        await Eventually.TrueAsync(
            async () => (await management.GetSimpleGrainStatistics())
                .Where(static s => s.GrainType.Contains("SessionGrain", StringComparison.Ordinal))
                .Sum(static s => s.ActivationCount) <= valid.Count,
            "the junk's session grain activations to be gone");
        foreach (var cookie in valid)
        {
            Assert.Equal(FrontOutcome.Session, (await _silo.SessionAsync(cookie)).Outcome);
        }
    }

    /// <summary>Sends <paramref name="count"/> distinct junk cookies from 8 connections; returns how many were answered "no session".</summary>
    private async Task<int> FloodAsync(int count, CancellationToken cancellationToken)
    {
        var filler = new string('j', CookieBytes);
        var next = -1;
        var nulls = 0;
        using var http = new HttpClient(new SocketsHttpHandler { UseCookies = false, MaxConnectionsPerServer = 8 }) { BaseAddress = _silo.HttpAddress };
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "api/auth/session");
                request.Headers.TryAddWithoutValidation("Cookie", "authjs.session-token=" + Guid.NewGuid().ToString("N") + filler);
                using var response = await http.SendAsync(request, cancellationToken);
                if ((await response.Content.ReadAsStringAsync(cancellationToken)).Trim() == "null")
                {
                    Interlocked.Increment(ref nulls);
                }
            }
        }));
        return nulls;
    }

    private long ResidentBytes()
    {
        var status = File.ReadAllLines($"/proc/{_silo.ProcessId}/status");
        var line = status.First(static l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private async Task<IHost> ClientAsync()
    {
        if (_client is null)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Cluster:ClusterId"] = _silo.Environment["Cluster__ClusterId"],
                ["Cluster:GatewayPort"] = _silo.Environment["Cluster__GatewayPort"],
                ["SessionCache:NearCache:Enabled"] = "false",
                ["SessionCache:ReportMetrics"] = "false",
            });
            builder.AddSessionCacheClient();
            _client = builder.Build();
            await _client.StartAsync();
        }

        return _client;
    }
}
