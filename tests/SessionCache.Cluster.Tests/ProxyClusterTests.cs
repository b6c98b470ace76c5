using System.Net;
using SessionCache.AuthJs;

namespace SessionCache.Cluster.Tests;

/// <summary>Proxy mode: the cluster asks the real @auth/express session endpoint, once per session per cache lifetime.</summary>
public sealed class ProxyCluster : SessionCluster
{
    public static readonly TimeSpan MaxCacheAge = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan NegativeCacheAge = TimeSpan.FromMinutes(1);

    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Proxy",
        ["SessionCache:Upstream"] = new Uri(authJs.BaseAddress, "switch/auth").ToString(),
        ["SessionCache:MaxCacheAge"] = MaxCacheAge.ToString(),
        ["SessionCache:NegativeCacheAge"] = NegativeCacheAge.ToString(),
    };
}

[CollectionDefinition(Name)]
public sealed class ProxyClusterCollection : ICollectionFixture<ProxyCluster>
{
    public const string Name = "Proxy cluster";
}

[Collection(ProxyClusterCollection.Name)]
public sealed class ProxyClusterTests(ProxyCluster cluster)
{
    private const string App = "switch";
    private AuthJsServer AuthJs => cluster.AuthJs;

    [Fact]
    public async Task WithoutASignInTimeFieldARolledCopyIsServedAgainAsDocumented()
    {
        // This app's session callback exposes user.id but no auth_time.
        var a = await Devices.SignInAsync(AuthJs, "jwt", "proxy-unstamped");
        var b = await Devices.SignInAsync(AuthJs, "jwt", "proxy-unstamped");
        await Devices.AssertServedEverywhereAsync(cluster, a, "device A");
        await Devices.AssertServedEverywhereAsync(cluster, b, "device B");
        await cluster.ClientCache.InvalidateUserAsync("user-proxy-unstamped");
        await Devices.AssertRefusedEverywhereAsync(cluster, a, "device A after the sign-out");
        await Devices.AssertRefusedEverywhereAsync(cluster, b, "device B after the sign-out");

        // Re-encoded by Auth.js after the sign-out, it is a session the cluster first sees now.
        await Devices.PollAuthJsAsync(AuthJs, App, b);
        await Devices.AssertServedEverywhereAsync(cluster, b, "device B's rolled cookie (no sign-in time field: the documented gap)");
    }

    [Fact]
    public async Task EveryPathAnswersWhatAuthJsAnswers()
    {
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "proxy-paths"));
        var expected = Json.WithoutExpires((await AuthJs.SessionEndpointAsync("/switch/auth", cookie))!.ToJsonString());

        foreach (var (path, json) in await cluster.LookUpEverywhereAsync(cookie))
        {
            Assert.True(json is not null, $"{path} answered null");
            Assert.Equal(expected, Json.WithoutExpires(json));
        }

        foreach (var (path, json) in await cluster.LookUpEverywhereAsync(null))
        {
            Assert.True(json is null, $"{path} answered {json} without a cookie");
        }
    }

    [Fact]
    public async Task ThousandConcurrentLookupsAcrossSilosAndClientCallUpstreamOnce()
    {
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "proxy-thousand"));
        var callers = cluster.SiloCaches.Append(cluster.ClientCache).ToArray();
        var before = await AuthJs.SessionCallsAsync(App);

        var sessions = await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => callers[i % callers.Length].GetServerSessionAsync(cookie).AsTask()));

        Assert.All(sessions, static s => Assert.Equal("proxy-thousand", s?.User?.Name));
        Assert.Equal(before + 1, await AuthJs.SessionCallsAsync(App));

        // Cached for MaxCacheAge; then resolved once more, still once for everyone.
        cluster.Clock.Advance(ProxyCluster.MaxCacheAge + TimeSpan.FromSeconds(1));
        sessions = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => callers[i % callers.Length].GetServerSessionAsync(cookie).AsTask()));
        Assert.All(sessions, static s => Assert.NotNull(s));
        Assert.Equal(before + 2, await AuthJs.SessionCallsAsync(App));
    }

    [Fact]
    public async Task SignOutThroughAuthJsEventsReachesEveryPathOnEverySilo()
    {
        await AuthJs.SetSignOutTargetAsync(new Uri(cluster.Fronts[1].BaseAddress!, "api/sessions/invalidate"), SessionCluster.ApiKey);
        try
        {
            var cookies = await AuthJs.SignInAsync("/jwt/auth", "proxy-signout");
            var cookie = AuthJsServer.CookieHeader(cookies);
            Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.NotNull(a.SessionJson));

            // Auth.js clears the cookie and fires events.signOut, which posts {token} to the cluster.
            await AuthJs.SignOutAsync("/jwt/auth", cookies);

            // The old cookie still decrypts, and Auth.js itself still accepts it: it cannot revoke a JWT.
            Assert.NotNull(await AuthJs.SessionEndpointAsync("/jwt/auth", cookie));
            foreach (var (path, json) in await cluster.LookUpEverywhereAsync(cookie))
            {
                Assert.True(json is null, $"{path} still served the signed-out session");
            }

            // Still refused once every cache lifetime has passed and the grains resolved it again.
            cluster.Clock.Advance(ProxyCluster.MaxCacheAge + TimeSpan.FromSeconds(1));
            Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.Null(a.SessionJson));
            var detailed = await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie));
            Assert.Equal(SessionLookupStatus.Revoked, detailed.Status);

            // Signing in again works at once.
            var again = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "proxy-signout"));
            Assert.All(await cluster.LookUpEverywhereAsync(again), static a => Assert.NotNull(a.SessionJson));
        }
        finally
        {
            await AuthJs.SetSignOutTargetAsync(null, null);
        }
    }

    [Fact]
    public async Task NegativeAnswersAreCachedBrieflyAndDoNotHideAFreshSignIn()
    {
        const string garbage = "authjs.session-token=not-a-session-at-all";
        var before = await AuthJs.SessionCallsAsync(App);
        Assert.Null(await cluster.SiloCaches[0].GetServerSessionAsync(garbage));
        Assert.Null(await cluster.SiloCaches[2].GetServerSessionAsync(garbage));
        Assert.Null(await cluster.ClientCache.GetServerSessionAsync(garbage));
        Assert.Equal(before + 1, await AuthJs.SessionCallsAsync(App));

        // A fresh sign-in, by the same browser, is a new token: served at once.
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "proxy-fresh"));
        Assert.Equal("proxy-fresh", (await cluster.ClientCache.GetServerSessionAsync(cookie))?.User?.Name);

        // The negative answer is asked again once its short lifetime is over.
        cluster.Clock.Advance(ProxyCluster.NegativeCacheAge + TimeSpan.FromSeconds(1));
        Assert.Null(await cluster.SiloCaches[1].GetServerSessionAsync(garbage));
        Assert.True(await AuthJs.SessionCallsAsync(App) >= before + 3);
    }

    [Fact]
    public async Task UpstreamErrorsAreNeverCachedAndNeverNoSession()
    {
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "proxy-errors"));
        await AuthJs.SwitchAsync(off: true);
        try
        {
            var result = await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie));
            Assert.Equal(SessionLookupStatus.UpstreamError, result.Status);
            await Assert.ThrowsAsync<SessionUnavailableException>(async () => await cluster.SiloCaches[0].GetServerSessionAsync(cookie));

            using var session = new HttpRequestMessage(HttpMethod.Get, "api/auth/session") { Headers = { { "Cookie", cookie } } };
            using var sessionResponse = await cluster.Fronts[2].SendAsync(session);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, sessionResponse.StatusCode);

            using var me = new HttpRequestMessage(HttpMethod.Get, "me") { Headers = { { "Cookie", cookie } } };
            using var meResponse = await cluster.Fronts[0].SendAsync(me);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, meResponse.StatusCode);
            Assert.NotNull(meResponse.Headers.RetryAfter);
        }
        finally
        {
            await AuthJs.SwitchAsync(off: false);
        }

        // Nothing of the failure was kept: the very next lookup resolves.
        Assert.Equal("proxy-errors", (await cluster.ClientCache.GetServerSessionAsync(cookie))?.User?.Name);
        Assert.Equal("proxy-errors", (await cluster.SiloCaches[0].GetServerSessionAsync(cookie))?.User?.Name);
    }

    [Fact]
    public async Task TheAuthenticationSchemeBuildsThePrincipalAndAnswers401WithoutASession()
    {
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "proxy-scheme"));
        using var anonymous = await cluster.Fronts[0].GetAsync("me");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        using var garbage = new HttpRequestMessage(HttpMethod.Get, "me") { Headers = { { "Cookie", "authjs.session-token=garbage" } } };
        using var garbageResponse = await cluster.Fronts[1].SendAsync(garbage);
        Assert.Equal(HttpStatusCode.Unauthorized, garbageResponse.StatusCode);

        using var signedIn = new HttpRequestMessage(HttpMethod.Get, "me") { Headers = { { "Cookie", cookie } } };
        using var response = await cluster.Fronts[2].SendAsync(signedIn);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var me = await Json.ReadObjectAsync(response);
        Assert.Equal("proxy-scheme", me["name"]!.GetValue<string>());
        Assert.Equal("proxy-scheme@example.test", me["email"]!.GetValue<string>());
    }
}
