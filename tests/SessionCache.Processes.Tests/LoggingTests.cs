using System.Text.Json;
using SessionCache.Processes.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SessionCache.Processes.Tests;

/// <summary>
/// Every process logs structured JSON records (as configured for production), and no line any
/// process ever prints, from the start of the cluster to now, holds a session token, a cookie,
/// the Auth.js secret, the API key or an e-mail address: sign-ins, lookups on every path, garbage
/// and oversized cookies, upstream failures and sign-outs with Auth.js' own payloads included.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class LoggingTests(ProcessCluster cluster, ITestOutputHelper output) : IAsyncLifetime
{
    public Task InitializeAsync() => cluster.HealAsync();

    public async Task DisposeAsync()
    {
        await cluster.UpstreamFaultAsync(null);
        await cluster.HealAsync();
    }

    [Fact]
    public async Task Logs_are_structured_and_never_hold_a_token_cookie_secret_or_email()
    {
        var run = Guid.NewGuid().ToString("N")[..6];
        var users = Enumerable.Range(0, 12).Select(i => $"logging-{run}-{i}").ToList();
        var cookies = new Dictionary<string, string>();
        foreach (var user in users)
        {
            cookies[user] = await cluster.SignInAsync(user);
            await cluster.LookUpEverywhereAsync(cookies[user]);
        }

        // Wrong and hostile input: every path logs what it refused.
        await cluster.LookUpEverywhereAsync("authjs.session-token=garbage." + run);
        await cluster.LookUpEverywhereAsync("authjs.session-token=" + new string('x', 20_000));

        // Sign-outs, as Auth.js' events.signOut sends them: the JWT's payload (with its e-mail),
        // a database session's row, and the plain forms.
        var signOuts = new object[]
        {
            new { token = new { sub = users[0], name = users[0], email = $"{users[0]}@example.test" } },
            new { session = new { sessionToken = cookies[users[1]]["authjs.session-token=".Length..], userId = users[1] } },
            new { userId = users[2] },
            new { sessionToken = cookies[users[3]]["authjs.session-token=".Length..] },
        };
        foreach (var (signOut, node) in signOuts.Zip(cluster.Nodes))
        {
            using var response = await node.InvalidateAsync(signOut);
            Assert.True(response.IsSuccessStatusCode, $"{node.Name} refused the sign-out: {(int)response.StatusCode}");
        }

        foreach (var user in users.Take(4))
        {
            Assert.All(await cluster.LookUpEverywhereAsync(cookies[user]), static a => Assert.Equal(FrontOutcome.NoSession, a.Outcome));
        }

        // Auth.js failing: warnings with reasons, never with the cookie that was being resolved.
        // One lookup (three attempts), so that no silo's circuit breaker opens for the tests after.
        var unlucky = await cluster.SignInAsync($"logging-{run}-fault");
        await cluster.UpstreamFaultAsync("500");
        Assert.Equal(FrontOutcome.Failed, (await cluster.WebApp.SessionAsync(unlucky)).Outcome);
        await cluster.UpstreamFaultAsync(null);

        // The sign-outs were logged, as structured records whose fields name the user by hash only.
        await Eventually.TrueAsync(
            () => Task.FromResult(cluster.Nodes.SelectMany(static n => n.RecentLines).Any(static l => l.Contains("\"EventId\":3102", StringComparison.Ordinal))),
            "a sign-out to be logged");
        var signedOut = cluster.Nodes.SelectMany(static n => n.RecentLines).First(static l => l.Contains("\"EventId\":3102", StringComparison.Ordinal));
        using (var record = JsonDocument.Parse(signedOut))
        {
            Assert.Equal("Information", record.RootElement.GetProperty("LogLevel").GetString());
            Assert.Matches("^[A-Za-z0-9_-]{12}$", record.RootElement.GetProperty("State").GetProperty("UserHash").GetString());
        }

        foreach (var node in cluster.Nodes)
        {
            var (lines, json) = node.LineCounts;
            output.WriteLine($"{node.Name}: {lines} lines, {json} JSON records");
            Assert.True(json > 0, $"{node.Name} printed no JSON log record");
        }

        var leaked = cluster.Nodes.SelectMany(static n => n.LeakedLines).ToList();
        Assert.True(leaked.Count == 0, "sensitive values in the logs:\n" + string.Join('\n', leaked));
    }
}
