using System.Net;
using SessionCache.Processes.Tests.Infrastructure;

namespace SessionCache.Processes.Tests;

/// <summary>
/// Two standalone silo processes on Redis with <c>Cluster:Tls</c> on, certificates made in this
/// process: they form one cluster over mutual TLS and serve a session through either front,
/// while a third silo with a certificate from another CA is refused by both and never joins.
/// </summary>
public sealed class TlsClusterTests : IAsyncLifetime
{
    private readonly AuthJsServer _auth = new();
    private readonly RedisServer _redis = new();
    private readonly TestCertificates _certificates = new();
    private readonly List<ClusterNode> _nodes = [];
    private Dictionary<string, string> _environment = [];

    public async Task InitializeAsync()
    {
        await _auth.InitializeAsync();
        await _redis.StartAsync();
        SensitiveValues.Add("Auth.js secret", AuthJsServer.Secret0);
        _environment = new Dictionary<string, string>
        {
            ["SessionCache__Mode"] = "Local",
            ["AUTH_SECRET"] = AuthJsServer.Secret0,
            ["Cluster__Membership"] = "Redis",
            ["Cluster__ConnectionString"] = _redis.ConnectionString,
            ["Cluster__ClusterId"] = "tls-" + Guid.NewGuid().ToString("N")[..8],
            ["Cluster__AdvertisedAddress"] = "127.0.0.1",
            ["Logging__LogLevel__Default"] = "Warning",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_gcServer"] = "0",
        };
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await _redis.DisposeAsync();
        await _auth.DisposeAsync();
        _certificates.Dispose();
    }

    [Fact]
    public async Task Silos_form_a_cluster_over_mutual_TLS_and_refuse_a_silo_from_another_CA()
    {
        var first = Start("tls-silo-1", _certificates.Issue("silo-1").Settings(_certificates.CaBundle, "__"));
        var second = Start("tls-silo-2", _certificates.Issue("silo-2").Settings(_certificates.CaBundle, "__"));
        await Task.WhenAll(first.WaitHealthyAsync(), second.WaitHealthyAsync());

        var token = await _auth.MintAsync(new { sub = "tls-user", name = "tls-user", jti = Guid.NewGuid().ToString() }, AuthJsServer.Secret0, maxAge: 3600);
        SensitiveValues.Add("session token", token);
        var cookie = "authjs.session-token=" + token;

        // Each front asks the one session grain, wherever it lives: silo-to-silo calls cross TLS.
        foreach (var node in new[] { first, second })
        {
            var answer = await node.SessionAsync(cookie);
            Assert.True(answer.Outcome == FrontOutcome.Session, $"{node.Name}: {answer}\n{node.Tail}");
        }

        var intruder = Start("tls-intruder", _certificates.IssueUntrusted("intruder").Settings(_certificates.CaBundle, "__"));
        await Eventually.TrueAsync(
            () => Task.FromResult(first.RecentLines.Concat(second.RecentLines).Any(static l => l.Contains("TLS peer", StringComparison.Ordinal) && l.Contains("refused", StringComparison.Ordinal))),
            "a member silo to refuse the intruder's certificate");

        Assert.False(await IsActiveMemberAsync(intruder), "the intruder became an active member:\n" + intruder.Tail);
        foreach (var node in new[] { first, second })
        {
            Assert.Equal(FrontOutcome.Session, (await node.SessionAsync(cookie)).Outcome);
        }
    }

    private ClusterNode Start(string name, Dictionary<string, string?> tls)
    {
        var environment = new Dictionary<string, string>(_environment);
        foreach (var (key, value) in tls)
        {
            environment[key] = value!;
        }

        var node = new ClusterNode(name, "src/Silo", "SessionCache.Silo", environment);
        _nodes.Add(node);
        node.Start();
        return node;
    }

    private static async Task<bool> IsActiveMemberAsync(ClusterNode node)
    {
        try
        {
            using var response = await node.Http.GetAsync("health");
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}
