using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SessionCache.AuthJs;
using SessionCache.Client;

namespace SessionCache.Processes.Tests.Infrastructure;

/// <summary>
/// A production-shaped cluster on this machine: a real redis-server for membership and grain
/// storage, three standalone silo processes, the sample web app co-hosting a fourth silo, and two
/// external clients in this test process (one with the near cache, one without), all in proxy mode
/// against the real Auth.js (through a forwarder that can refuse connections).
/// </summary>
public sealed class ProcessCluster : IAsyncLifetime
{
    public const string ApiKey = "process-cluster-api-key";

    /// <summary>The near cache's lease every process runs with: the default, since what a silo's death costs a sign-out depends on it.</summary>
    public static readonly TimeSpan Lease = new NearCacheOptions().Lease;

    private readonly List<IHost> _clients = [];

    internal AuthJsServer Auth { get; } = new();

    internal RedisServer Redis { get; } = new();

    internal TcpForwarder Upstream { get; private set; } = null!;

    internal IReadOnlyList<ClusterNode> Silos { get; private set; } = [];

    internal ClusterNode WebApp { get; private set; } = null!;

    /// <summary>Every process with an HTTP front: the three silos and the web app.</summary>
    internal IReadOnlyList<ClusterNode> Nodes => [.. Silos, WebApp];

    /// <summary>An external client with the near cache (the default).</summary>
    internal ISessionCache Client { get; private set; } = null!;

    /// <summary>An external client without the near cache: every lookup reaches a grain.</summary>
    internal ISessionCache GrainClient { get; private set; } = null!;

    internal IReadOnlyList<ISessionCache> Clients => [Client, GrainClient];

    public string ClusterId { get; } = "test-" + Guid.NewGuid().ToString("N")[..8];

    public async Task InitializeAsync()
    {
        await Auth.InitializeAsync();
        Upstream = new TcpForwarder(Auth.BaseAddress.Port);
        Upstream.Start();
        await Redis.StartAsync();
        SensitiveValues.Add("API key", ApiKey);
        SensitiveValues.Add("Auth.js secret", AuthJsServer.Secret0);

        var environment = new Dictionary<string, string>
        {
            ["SessionCache__Mode"] = "Proxy",
            ["SessionCache__Upstream"] = $"http://127.0.0.1:{Upstream.Port}/switch/auth",
            ["SessionCache__ApiKey"] = ApiKey,
            ["Cluster__Membership"] = "Redis",
            ["Cluster__ConnectionString"] = Redis.ConnectionString,
            ["Cluster__ClusterId"] = ClusterId,
            ["Cluster__AdvertisedAddress"] = "127.0.0.1",

            // docs/benchmarks.md compares the directories by running these tests with each.
            ["Cluster__GrainDirectory"] = Environment.GetEnvironmentVariable("SESSIONCACHE_TEST_GRAIN_DIRECTORY") ?? "Distributed",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__SessionCache"] = "Debug",

            // Structured, as in production: one JSON record per line.
            ["Logging__Console__FormatterName"] = "json",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_gcServer"] = "0",
        };
        Silos = [.. Enumerable.Range(1, 3).Select(i => new ClusterNode($"silo-{i}", "src/Silo", "SessionCache.Silo", environment))];
        WebApp = new ClusterNode("web-app", "samples/WebApp", "WebApp", environment);
        foreach (var node in Nodes)
        {
            node.Start();
        }

        await Task.WhenAll(Nodes.Select(static n => n.WaitHealthyAsync()));
        Client = await StartClientAsync(nearCache: true);
        GrainClient = await StartClientAsync(nearCache: false);
        await WaitForEveryNodeAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var client in _clients)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await client.StopAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
            }

            client.Dispose();
        }

        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }

        await Redis.DisposeAsync();
        await Upstream.DisposeAsync();
        await Auth.DisposeAsync();
    }

    /// <summary>
    /// Where each process' unhandled-exception reports stand now: a test takes the mark when it
    /// starts and checks <see cref="UnhandledExceptionsSince"/> at its end, so that one test's
    /// exception fails that test alone, with the report in its message.
    /// </summary>
    internal int[] UnhandledExceptionMark() => Mark(static n => n.UnhandledExceptions);

    /// <summary>The unhandled-exception reports printed by any cluster process since <paramref name="mark"/>.</summary>
    internal IReadOnlyList<string> UnhandledExceptionsSince(int[] mark) => Since(mark, static n => n.UnhandledExceptions);

    /// <summary>Where each process' lines with a sensitive value stand now (<see cref="SensitiveValues"/>).</summary>
    internal int[] LeakedLineMark() => Mark(static n => n.LeakedLines);

    /// <summary>Lines with a sensitive value printed by any cluster process since <paramref name="mark"/>.</summary>
    internal IReadOnlyList<string> LeakedLinesSince(int[] mark) => Since(mark, static n => n.LeakedLines);

    private int[] Mark(Func<ClusterNode, IReadOnlyCollection<string>> lines) => [.. Nodes.Select(node => lines(node).Count)];

    private List<string> Since(int[] mark, Func<ClusterNode, IReadOnlyCollection<string>> lines) =>
        [.. Nodes.SelectMany((node, index) => lines(node).Skip(mark[index]))];

    /// <summary>Fails with the reports when any cluster process printed an unhandled exception since <paramref name="mark"/>.</summary>
    internal void AssertNoUnhandledExceptionsSince(int[] mark)
    {
        var reports = UnhandledExceptionsSince(mark);
        Assert.True(reports.Count == 0, $"{reports.Count} unhandled exception(s) in the cluster's processes:\n{string.Join("\n", reports)}");
    }

    /// <summary>Starts <paramref name="node"/> again after a kill, and waits until it is an active member.</summary>
    internal async Task RestartAsync(ClusterNode node)
    {
        node.Kill();
        node.Start();
        await node.WaitHealthyAsync();
    }

    /// <summary>Restarts every node that is not running, and waits until each is healthy and the clients see it.</summary>
    internal async Task HealAsync()
    {
        if (!await Redis.PingAsync())
        {
            await Redis.StartAsync();
        }

        Upstream.Stop();
        Upstream.Start();
        await Auth.Http.PostAsJsonAsync("config/switch", new { off = false });
        // A silo that finds itself declared dead (after a pause) stops itself, by design: like a
        // supervisor, start whatever is not running until all are healthy.
        for (var round = 0; ; round++)
        {
            foreach (var node in Nodes.Where(static n => !n.IsRunning))
            {
                node.Start();
            }

            try
            {
                await Task.WhenAll(Nodes.Select(static n => n.WaitHealthyAsync()));
                break;
            }
            catch (Exception) when (round < 2 && Nodes.Any(static n => !n.IsRunning))
            {
            }
        }

        await WaitForEveryNodeAsync();
    }

    /// <summary>A session for <paramref name="userId"/>, minted as Auth.js would: the Cookie header carrying it.</summary>
    internal async Task<string> SignInAsync(string userId)
    {
        var email = $"{userId}@example.test";
        // auth_time as the jwt callback lines of docs/authjs.md stamp it, so that sign-outs hold across Auth.js' re-encodes.
        var token = await Auth.MintAsync(new { sub = userId, name = userId, email, jti = Guid.NewGuid().ToString(), auth_time = DateTimeOffset.UtcNow.ToUnixTimeSeconds() }, AuthJsServer.Secret0, maxAge: 3600);
        SensitiveValues.Add("session token", token);
        SensitiveValues.Add("e-mail", email);

        // A user id can be an e-mail address (it is whatever the app's authorize returns), so no
        // process prints one either: Orleans' own lines name user grains by a hash of it.
        SensitiveValues.Add("user id", userId);
        return "authjs.session-token=" + token;
    }

    /// <summary><paramref name="count"/> users signed in, one session each, named after <paramref name="prefix"/> and this run.</summary>
    internal async Task<List<(string User, string Cookie)>> SignInManyAsync(string prefix, int count)
    {
        var run = Guid.NewGuid().ToString("N")[..6];
        var sessions = new List<(string, string)>();
        foreach (var i in Enumerable.Range(0, count))
        {
            var user = $"{prefix}-{run}-{i}";
            sessions.Add((user, await SignInAsync(user)));
        }

        return sessions;
    }

    /// <summary>Every session looked up once through the client without a near cache: what the grains answer now.</summary>
    internal async Task<FrontOutcome[]> SweepAsync(IReadOnlyList<(string User, string Cookie)> sessions) =>
        await Task.WhenAll(sessions.Select(async s => ToOutcome(await GrainClient.LookupAsync(SessionRequest.FromCookieHeader(s.Cookie)))));

    internal async Task<UpstreamCalls> UpstreamCallsAsync()
    {
        var body = (await Auth.Http.GetFromJsonAsync<JsonObject>("calls/switch"))!;
        return new UpstreamCalls(
            body["count"]!.GetValue<int>(),
            body["sessions"]!.GetValue<int>(),
            body["maxPerSession"]!.GetValue<int>(),
            body["sessionsCalledMoreThanOnce"]!.GetValue<int>());
    }

    internal async Task ResetUpstreamCallsAsync()
    {
        using var response = await Auth.Http.PostAsync("calls/switch/reset", null);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Makes the upstream Auth.js fail: "500", "429", "hang", or null to heal it.</summary>
    internal async Task UpstreamFaultAsync(string? fault)
    {
        using var response = await Auth.Http.PostAsJsonAsync("config/switch", new { off = false, fault });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Asks Auth.js itself (not the cluster) for the session: is the cookie still good there?</summary>
    internal async Task<bool> AuthJsAcceptsAsync(string cookieHeader) =>
        await Auth.SessionEndpointAsync("switch/auth", cookieHeader) is JsonObject;

    /// <summary>A lookup through every path: each node's HTTP front and each client.</summary>
    internal async Task<List<(string Path, FrontOutcome Outcome)>> LookUpEverywhereAsync(string cookieHeader)
    {
        var answers = new List<(string, FrontOutcome)>();
        foreach (var node in Nodes.Where(static n => n.IsRunning))
        {
            answers.Add((node.Name, (await node.SessionAsync(cookieHeader)).Outcome));
        }

        for (var i = 0; i < Clients.Count; i++)
        {
            answers.Add(($"client-{i}", ToOutcome(await Clients[i].LookupAsync(SessionRequest.FromCookieHeader(cookieHeader)))));
        }

        return answers;
    }

    internal static FrontOutcome ToOutcome(SessionLookupResult result) => result.Status switch
    {
        SessionLookupStatus.Session => FrontOutcome.Session,
        SessionLookupStatus.UpstreamError => FrontOutcome.Failed,
        _ => FrontOutcome.NoSession,
    };

    /// <summary>The node holding the most session grains, by Orleans' own statistics (placement decides where they go).</summary>
    internal async Task<(ClusterNode Node, int Sessions)> NodeHoldingMostSessionsAsync()
    {
        var management = _clients[0].Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        var statistics = await management.GetSimpleGrainStatistics();
        return Nodes
            .Select(node => (node, statistics
                .Where(s => s.SiloAddress.Endpoint.Port == node.SiloPort && s.GrainType.Contains("SessionGrain", StringComparison.Ordinal))
                .Sum(static s => s.ActivationCount)))
            .MaxBy(static n => n.Item2);
    }

    /// <summary>The silo holding the activation of a user's grain, or <see langword="null"/> when none is active.</summary>
    internal async Task<ClusterNode?> NodeHoldingUserGrainAsync(string userId)
    {
        // The grain's id as the silos make it: type "user", key the URL-safe SHA-256 of "user\n" + id.
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("user\n" + userId));
        var key = Convert.ToBase64String(hash).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var grains = _clients[0].Services.GetRequiredService<IGrainFactory>();
        var address = await grains.GetGrain<IManagementGrain>(0).GetActivationAddress(grains.GetGrain(GrainId.Create("user", key)));
        return address is null ? null : Nodes.FirstOrDefault(n => n.SiloPort == address.Endpoint.Port);
    }

    /// <summary>What the membership table says of <paramref name="node"/>'s latest incarnation.</summary>
    internal async Task<SiloStatus> MembershipStatusAsync(ClusterNode node)
    {
        var management = _clients[0].Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        var hosts = await management.GetDetailedHosts(onlyActive: false);
        return hosts.Where(h => h.SiloAddress.Endpoint.Port == node.SiloPort).MaxBy(static h => h.SiloAddress.Generation)?.Status ?? SiloStatus.None;
    }

    private async Task<ISessionCache> StartClientAsync(bool nearCache)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cluster:Membership"] = "Redis",
            ["Cluster:ConnectionString"] = Redis.ConnectionString,
            ["Cluster:ClusterId"] = ClusterId,
            ["SessionCache:NearCache:Enabled"] = nearCache ? "true" : "false",
        });
        builder.AddSessionCacheClient();
        var host = builder.Build();
        await host.StartAsync();
        _clients.Add(host);
        return host.Services.GetRequiredService<ISessionCache>();
    }

    /// <summary>Every node answers a lookup through the cluster (not a near cache): the mesh is complete.</summary>
    private async Task WaitForEveryNodeAsync()
    {
        var probe = await SignInAsync("probe-" + Guid.NewGuid().ToString("N")[..6]);
        await Eventually.TrueAsync(
            async () => (await LookUpEverywhereAsync(probe)).All(static a => a.Outcome == FrontOutcome.Session),
            "every node and client to look a session up");
    }
}

internal sealed record UpstreamCalls(int Count, int Sessions, int MaxPerSession, int SessionsCalledMoreThanOnce);

[CollectionDefinition(Name)]
public sealed class ProcessClusterCollection : ICollectionFixture<ProcessCluster>
{
    public const string Name = "Process cluster";
}
