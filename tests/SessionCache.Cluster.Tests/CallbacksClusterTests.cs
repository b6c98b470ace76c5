using System.Net;
using System.Text.Json.Nodes;
using SessionCache.AuthJs;

namespace SessionCache.Cluster.Tests;

/// <summary>Local JWT mode with the sample app's own Auth.js callbacks module, on three silos and a client.</summary>
public sealed class CallbacksCluster : SessionCluster
{
    public static readonly string Module = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../samples/authjs-app/auth-callbacks.mjs"));

    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Local",
        ["SessionCache:Strategy"] = "Jwt",
        ["SessionCache:CallbacksModule"] = Module,
        ["SessionCache:UpstreamErrors"] = "Null",
        ["AUTH_SECRET"] = AuthJsServer.Secret0,
        ["AUTH_SECRET_1"] = AuthJsServer.Secret1,
        ["AUTH_SECRET_2"] = AuthJsServer.Secret2,
    };
}

[CollectionDefinition(Name)]
public sealed class CallbacksClusterCollection : ICollectionFixture<CallbacksCluster>
{
    public const string Name = "Callbacks cluster";
}

[Collection(CallbacksClusterCollection.Name)]
public sealed class CallbacksClusterTests(CallbacksCluster cluster)
{
    private static readonly string[] Secrets = [AuthJsServer.Secret0, AuthJsServer.Secret1, AuthJsServer.Secret2];

    private AuthJsServer AuthJs => cluster.AuthJs;

    [Fact]
    public void UpstreamErrorsReachesEverySiloAndTheClient()
    {
        Assert.All(cluster.SiloCaches.Append(cluster.ClientCache), static cache => Assert.Equal(UpstreamErrorBehavior.Null, cache.UpstreamErrors));
    }

    [Fact]
    public async Task EveryPathAnswersWhatAuthJsAnswersWithTheAppsCallbacks()
    {
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/callbacks/auth", "cluster-mo"));
        var expected = Json.WithoutExpires((await AuthJs.SessionEndpointAsync("/callbacks/auth", cookie))!.ToJsonString());
        Assert.Contains("\"role\":\"member\"", expected, StringComparison.Ordinal);

        foreach (var (path, json) in await cluster.LookUpEverywhereAsync(cookie))
        {
            Assert.Equal(expected, Json.WithoutExpires(json));
        }
    }

    [Fact]
    public async Task TheTokenComesWithTheSessionFromEverySiloAndTheClientWithoutASecondDecode()
    {
        var cookies = await AuthJs.SignInAsync("/callbacks/auth", "cluster-token");
        var cookie = AuthJsServer.CookieHeader(cookies);
        var raw = string.Concat(cookies.Select(static c => c.Value));
        var expected = (await AuthJs.DecodeV5Async(raw, Secrets))!;
        var before = cluster.Resolutions;

        foreach (var cache in cluster.SiloCaches.Append(cluster.ClientCache))
        {
            var request = SessionRequest.FromCookieHeader(cookie);
            Assert.NotNull(await cache.GetServerSessionAsync(request));
            var token = await cache.GetTokenAsync(request);
            using var document = token!.ToJsonDocument();
            Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(document.RootElement.GetRawText())), "the payload differs from Auth.js' decode");
            Assert.Equal(raw, await cache.GetRawTokenAsync(request));
        }

        // One resolution (one decode, one run of the callbacks) for every caller and both questions.
        Assert.Equal(before + 1, cluster.Resolutions);
    }

    [Fact]
    public async Task ASignedOutUsersTokenIsNull()
    {
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/callbacks/auth", "cluster-gone"));
        var request = SessionRequest.FromCookieHeader(cookie);
        Assert.NotNull(await cluster.ClientCache.GetTokenAsync(request));

        await cluster.ClientCache.InvalidateUserAsync("user-cluster-gone");

        foreach (var cache in cluster.SiloCaches.Append(cluster.ClientCache))
        {
            Assert.Null(await cache.GetTokenAsync(request));
            Assert.Null(await cache.GetRawTokenAsync(request));
        }
    }

    [Fact]
    public async Task RolesFromTheShapedSessionAuthorizeOnEverySilo()
    {
        var admin = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/callbacks/auth", "admin-cluster"));
        var member = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/callbacks/auth", "member-cluster"));
        foreach (var front in cluster.Fronts)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(front, admin));
            Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(front, member));
        }

        static async Task<HttpStatusCode> StatusAsync(HttpClient front, string cookie)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "admin") { Headers = { { "Cookie", cookie } } };
            using var response = await front.SendAsync(request);
            return response.StatusCode;
        }
    }

    [Fact]
    public async Task TheReissuedCookieKeepsTheAppsClaimsAndTheSignInTime()
    {
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/callbacks/auth", "cluster-reissue"));
        var original = (await AuthJs.DecodeV5Async(cookie[(cookie.IndexOf('=', StringComparison.Ordinal) + 1)..], Secrets))!;

        // A session far past updateAge is re-issued by the endpoint.
        cluster.Clock.Advance(TimeSpan.FromDays(2));
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "api/auth/session") { Headers = { { "Cookie", cookie } } };
            using var response = await cluster.Fronts[0].SendAsync(request);
            var setCookie = Assert.Single(response.Headers.GetValues("Set-Cookie"), static c => c.StartsWith("authjs.session-token=", StringComparison.Ordinal));
            var reissued = Uri.UnescapeDataString(setCookie["authjs.session-token=".Length..setCookie.IndexOf(';', StringComparison.Ordinal)]);
            var payload = (await AuthJs.DecodeV5Async(reissued, Secrets))!;

            Assert.Equal(original["role"]!.GetValue<string>(), payload["role"]!.GetValue<string>());
            Assert.Equal(original["auth_time"]!.GetValue<long>(), payload["auth_time"]!.GetValue<long>());
            Assert.NotEqual(original["jti"]!.GetValue<string>(), payload["jti"]!.GetValue<string>());
        }
        finally
        {
            cluster.Clock.Advance(TimeSpan.FromDays(-2));
        }
    }
}
