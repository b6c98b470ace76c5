using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;

namespace SessionCache.AuthJs.Tests;

/// <summary>Proxy mode against the real @auth/express server, and against an upstream that fails.</summary>
[Collection(AuthJsCollection.Name)]
public sealed class ProxySessionTests(AuthJsServer authJs)
{
    [Fact]
    public async Task SessionFromTheUpstreamIsReturnedAsIs()
    {
        var cookies = await authJs.SignInAsync("jwt/auth", "zoe");
        var header = AuthJsServer.CookieHeader(cookies) + "; theme=dark";

        var result = await Proxy("jwt/auth").LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        JwtSessionTests.AssertSameSession(await authJs.SessionEndpointAsync("jwt/auth", header), result.Session!);
        Assert.NotNull(result.ValidUntil);
    }

    [Fact]
    public async Task UpstreamNullIsNoSession()
    {
        var result = await Proxy("jwt/auth").LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=not-a-token"));

        Assert.Equal(SessionLookupStatus.NoSession, result.Status);
    }

    [Theory]
    [InlineData("500", true)]
    [InlineData("429", true)]
    [InlineData("badjson", false)]
    [InlineData("redirect", false)]
    public async Task UpstreamFailureIsAnErrorNeverNoSession(string fault, bool retryable)
    {
        var before = await authJs.FaultCallsAsync(fault);
        var resolver = Proxy($"fault/{fault}");

        var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=abc"));

        Assert.Equal(SessionLookupStatus.UpstreamError, result.Status);
        Assert.Equal(retryable, result.IsRetryable);
        await Assert.ThrowsAsync<SessionUnavailableException>(async () => await resolver.GetServerSessionAsync("authjs.session-token=abc"));

        // Transient failures are retried (2 retries per lookup here), others are not.
        var calls = await authJs.FaultCallsAsync(fault) - before;
        Assert.Equal(retryable ? 6 : 2, calls);
    }

    [Fact]
    public async Task UpstreamThatDoesNotAnswerTimesOut()
    {
        var resolver = Proxy("fault/slow", new() { ["SessionCache:Proxy:AttemptTimeout"] = "00:00:00.300", ["SessionCache:Proxy:TotalTimeout"] = "00:00:02", ["SessionCache:Proxy:MaxRetries"] = "1" });

        var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=abc"));

        Assert.Equal(SessionLookupStatus.UpstreamError, result.Status);
        Assert.True(result.IsRetryable);
        Assert.Contains("timed out", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RefusedConnectionIsARetryableError()
    {
        var resolver = Proxy(new Uri($"http://127.0.0.1:{UnusedPort()}/api/auth"));

        var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=abc"));

        Assert.Equal(SessionLookupStatus.UpstreamError, result.Status);
        Assert.True(result.IsRetryable);
    }

    [Fact]
    public async Task TransientFailureIsRetriedToSuccess()
    {
        // The flaky route fails every other call; one retry reaches its "null".
        var result = await Proxy("fault/flaky").LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=abc"));

        Assert.Equal(SessionLookupStatus.NoSession, result.Status);
    }

    [Fact]
    public async Task OpenCircuitFailsFastWithoutCallingUpstream()
    {
        var resolver = Proxy("fault/500", new()
        {
            ["SessionCache:Proxy:MaxRetries"] = "0",
            ["SessionCache:Proxy:CircuitMinimumThroughput"] = "2",
            ["SessionCache:Proxy:CircuitBreakDuration"] = "00:01:00",
        });
        var request = SessionRequest.FromCookieHeader("authjs.session-token=abc");
        await resolver.LookupAsync(request);
        await resolver.LookupAsync(request);
        var before = await authJs.FaultCallsAsync("500");

        var result = await resolver.LookupAsync(request);

        Assert.Equal(SessionLookupStatus.UpstreamError, result.Status);
        Assert.Equal("upstream circuit open", result.Reason);
        Assert.Equal(before, await authJs.FaultCallsAsync("500"));
    }

    [Fact]
    public async Task RequestWithoutSessionCookieIsNotSentUpstream()
    {
        var before = await authJs.FaultCallsAsync("500");

        var result = await Proxy("fault/500").LookupAsync(SessionRequest.FromCookieHeader("theme=dark"));

        Assert.Equal(SessionLookupStatus.NoSession, result.Status);
        Assert.Equal(before, await authJs.FaultCallsAsync("500"));
    }

    internal static int UnusedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Throw")]
    [InlineData("Null")]
    public async Task UpstreamErrorsDecideWhetherGetServerSessionThrowsOrAnswersNull(string? setting)
    {
        var extra = new Dictionary<string, string?> { ["SessionCache:Proxy:MaxRetries"] = "0" };
        if (setting is not null)
        {
            extra["SessionCache:UpstreamErrors"] = setting;
        }

        var resolver = Proxy("fault/500", extra);
        var request = SessionRequest.FromCookieHeader("authjs.session-token=whatever");

        // The detailed lookup always tells the failure apart.
        Assert.Equal(SessionLookupStatus.UpstreamError, (await resolver.LookupAsync(request)).Status);
        if (setting == "Null")
        {
            Assert.Null(await resolver.GetServerSessionAsync(request));
            Assert.Null(await resolver.GetTokenAsync(request));
        }
        else
        {
            await Assert.ThrowsAsync<SessionUnavailableException>(async () => await resolver.GetServerSessionAsync(request));
            await Assert.ThrowsAsync<SessionUnavailableException>(async () => await resolver.GetTokenAsync(request));
        }
    }

    [Fact]
    public async Task ProxyModeHasNoToken()
    {
        var header = AuthJsServer.CookieHeader(await authJs.SignInAsync("jwt/auth", "proxytoken"));

        var resolver = Proxy("jwt/auth");

        Assert.NotNull(await resolver.GetServerSessionAsync(header));
        Assert.Null(await resolver.GetTokenAsync(SessionRequest.FromCookieHeader(header)));
    }

    [Fact]
    public void AnUnknownUpstreamErrorsValueStopsTheStart()
    {
        var unknownName = Assert.Throws<InvalidOperationException>(() => Proxy("jwt/auth", new() { ["SessionCache:UpstreamErrors"] = "Ignore" }));
        var outOfRange = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => Proxy("jwt/auth", new() { ["SessionCache:UpstreamErrors"] = "7" }));

        Assert.Contains("'SessionCache:UpstreamErrors'", unknownName.Message, StringComparison.Ordinal);
        Assert.Contains("SessionCache:UpstreamErrors must be Throw or Null", outOfRange.Message, StringComparison.Ordinal);
    }

    private ISessionResolver Proxy(string basePath, Dictionary<string, string?>? extra = null) =>
        Proxy(new Uri(authJs.BaseAddress, basePath), extra);

    private static ISessionResolver Proxy(Uri upstream, Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["SessionCache:Mode"] = "Proxy",
            ["SessionCache:Upstream"] = upstream.ToString(),
            ["SessionCache:Proxy:RetryDelay"] = "00:00:00.010",
        };
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        return Resolvers.Build(settings).GetRequiredService<ISessionResolver>();
    }
}
