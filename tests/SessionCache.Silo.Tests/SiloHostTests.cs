using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;

namespace SessionCache.Silo.Tests;

/// <summary>The silo host as the README starts it: real Kestrel on loopback, a real Orleans silo.</summary>
[Collection(InProcessSilos.Name)]
public sealed class SiloHostTests
{
    [Fact]
    public async Task SiloBecomesHealthyAndServesTheDashboardToLoopback()
    {
        await using var app = await StartAsync(new() { ["AUTH_SECRET"] = "silo-test-secret-0123456789abcdef", ["SessionCache:Mode"] = "Local" });
        using var http = new HttpClient { BaseAddress = Address(app) };

        var health = await WaitForHealthyAsync(http);
        Assert.Contains("active cluster member", health, StringComparison.Ordinal);
        using var dashboard = await http.GetAsync("dashboard/");
        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        Assert.Contains("Orleans Dashboard", await dashboard.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DashboardWantsTheApiKeyWhenOneIsConfigured()
    {
        await using var app = await StartAsync(new() { ["AUTH_SECRET"] = "silo-test-secret-0123456789abcdef", ["SessionCache:Mode"] = "Local", ["SessionCache:ApiKey"] = "the-right-key" });
        using var http = new HttpClient { BaseAddress = Address(app) };
        await WaitForHealthyAsync(http);

        using var anonymous = await http.GetAsync("dashboard/");
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "dashboard/") { Headers = { { "Authorization", "Bearer the-wrong-key" } } };
        using var right = new HttpRequestMessage(HttpMethod.Get, "dashboard/") { Headers = { { "Authorization", "Bearer the-right-key" } } };

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(right)).StatusCode);
    }

    [Theory]
    [InlineData("Cluster:Membership", "Redis", "Cluster:Membership=Redis needs Cluster:ConnectionString")]
    [InlineData("Cluster:GatewayPort", "0", "Cluster:SiloPort and Cluster:GatewayPort")]
    [InlineData("SessionCache:Mode", "Local", "AUTH_SECRET")]
    public async Task MisconfiguredSiloRefusesToStartNamingTheKey(string key, string value, string expected)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () => await StartAsync(new() { [key] = value }));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARedisConnectionStringThatDoesNotParseIsNamedAtStart()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () => await StartAsync(new()
        {
            ["Cluster:Membership"] = "Redis",
            ["Cluster:ConnectionString"] = "redis-host:6379,colour=blue",
        }));

        Assert.Contains("Cluster:ConnectionString is not a Redis connection string", error.Message, StringComparison.Ordinal);
        Assert.Contains("colour", error.Message, StringComparison.Ordinal);
    }

    private static Task<WebApplication> StartAsync(Dictionary<string, string?> settings) => TestSilo.StartInProcessAsync(settings);

    private static Uri Address(WebApplication app) => TestSilo.Address(app);

    private static async Task<string> WaitForHealthyAsync(HttpClient http)
    {
        var body = string.Empty;
        await Eventually.TrueAsync(
            async () =>
            {
                using var response = await http.GetAsync("health");
                body = await response.Content.ReadAsStringAsync();
                return response.StatusCode == HttpStatusCode.OK;
            },
            "the silo to report healthy");
        return body;
    }
}
