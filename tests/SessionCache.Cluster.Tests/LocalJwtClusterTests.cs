using SessionCache.AuthJs;

namespace SessionCache.Cluster.Tests;

/// <summary>Local JWT mode: the cluster decrypts Auth.js' cookie itself, once per session per cache lifetime.</summary>
public sealed class LocalJwtCluster : SessionCluster
{
    // Short, so that the test of the expiry timer does not wait long.
    public static readonly TimeSpan MaxCacheAge = TimeSpan.FromSeconds(4);

    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Local",
        ["SessionCache:Strategy"] = "Jwt",
        ["SessionCache:MaxCacheAge"] = MaxCacheAge.ToString(),
        ["SessionCache:NegativeCacheAge"] = "00:00:02",
        ["AUTH_SECRET"] = AuthJsServer.Secret0,
        ["AUTH_SECRET_1"] = AuthJsServer.Secret1,
        ["AUTH_SECRET_2"] = AuthJsServer.Secret2,
    };
}

[CollectionDefinition(Name)]
public sealed class LocalJwtClusterCollection : ICollectionFixture<LocalJwtCluster>
{
    public const string Name = "Local JWT cluster";
}

[Collection(LocalJwtClusterCollection.Name)]
public sealed class LocalJwtClusterTests(LocalJwtCluster cluster)
{
    private AuthJsServer AuthJs => cluster.AuthJs;

    [Fact]
    public async Task ThousandConcurrentLookupsDecodeOnce()
    {
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "local-thousand"));
        var callers = cluster.SiloCaches.Append(cluster.ClientCache).ToArray();
        var before = cluster.Resolutions;

        var sessions = await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => callers[i % callers.Length].GetServerSessionAsync(cookie).AsTask()));

        Assert.All(sessions, static s => Assert.Equal("local-thousand", s?.User?.Name));
        Assert.Equal(before + 1, cluster.Resolutions);
    }

    [Fact]
    public async Task EveryPathAnswersWhatAuthJsAnswers()
    {
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "local-paths", image: "https://example.test/p.png"));
        var expected = Json.WithoutExpires((await AuthJs.SessionEndpointAsync("/jwt/auth", cookie))!.ToJsonString());
        foreach (var (path, json) in await cluster.LookUpEverywhereAsync(cookie))
        {
            Assert.True(json is not null, $"{path} answered null");
            Assert.Equal(expected, Json.WithoutExpires(json));
        }
    }

    [Fact]
    public async Task ARevokedJwtStaysRefusedAlthoughItStillDecrypts()
    {
        var cookie = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "local-revoked"));
        Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.NotNull(a.SessionJson));

        await cluster.SiloCaches[1].InvalidateUserAsync("user-local-revoked");

        Assert.NotNull(await AuthJs.SessionEndpointAsync("/jwt/auth", cookie));
        foreach (var (path, json) in await cluster.LookUpEverywhereAsync(cookie))
        {
            Assert.True(json is null, $"{path} still served the revoked session");
        }

        // After the grain has expired and gone, the token is decoded afresh, and still refused.
        await Eventually.TrueAsync(() => !cluster.IsSessionGrainActive(cookie), "the session grain deactivated");
        Assert.Equal(SessionLookupStatus.Revoked, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);

        // Invalidation is idempotent.
        await cluster.ClientCache.InvalidateUserAsync("user-local-revoked");
        await cluster.ClientCache.InvalidateUserAsync("user-nobody-has-ever-seen");
    }

    [Fact]
    public async Task ATokenIssuedBeforeTheSignOutIsRefusedEvenIfTheClusterNeverSawIt()
    {
        var unseen = await AuthJs.MintAsync(new { sub = "user-local-unseen", name = "unseen" }, AuthJsServer.Secret0);

        // Sign out "later" than the token was issued.
        cluster.Clock.Advance(TimeSpan.FromSeconds(5));
        await cluster.ClientCache.InvalidateUserAsync("user-local-unseen");

        var result = await cluster.SiloCaches[0].LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=" + unseen));
        Assert.Equal(SessionLookupStatus.Revoked, result.Status);
    }

    [Fact]
    public async Task InvalidatingOneSessionLeavesTheUsersOtherSessions()
    {
        var first = await AuthJs.SignInAsync("/jwt/auth", "local-one-of-two");
        var second = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "local-one-of-two", image: "https://example.test/2.png"));
        var firstCookie = AuthJsServer.CookieHeader(first);
        Assert.All(await cluster.LookUpEverywhereAsync(firstCookie), static a => Assert.NotNull(a.SessionJson));

        await cluster.ClientCache.InvalidateSessionAsync(first.Single().Value);

        Assert.All(await cluster.LookUpEverywhereAsync(firstCookie), static a => Assert.Null(a.SessionJson));
        Assert.All(await cluster.LookUpEverywhereAsync(second), static a => Assert.NotNull(a.SessionJson));

        // Unknown tokens and garbage succeed and change nothing.
        await cluster.SiloCaches[2].InvalidateSessionAsync("never-a-session");
        await Assert.ThrowsAsync<ArgumentException>(async () => await cluster.ClientCache.InvalidateSessionAsync(new string('x', SessionCacheLimits.MaxTokenLength + 1)));
        await Assert.ThrowsAsync<ArgumentException>(async () => await cluster.ClientCache.InvalidateUserAsync(new string('u', SessionCacheLimits.MaxUserIdLength + 1)));
    }

    [Fact]
    public async Task AnExpiredSessionIsNotServedAndItsGrainDeactivates()
    {
        var token = await AuthJs.MintAsync(new { sub = "user-local-expiring", name = "expiring" }, AuthJsServer.Secret0, maxAge: 60);
        var cookie = "authjs.session-token=" + token;
        Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.NotNull(a.SessionJson));
        Assert.True(cluster.IsSessionGrainActive(cookie));

        // Past exp and Auth.js' 15 s tolerance: no path serves it, without waiting a minute.
        cluster.Clock.Advance(TimeSpan.FromSeconds(80));
        foreach (var (path, json) in await cluster.LookUpEverywhereAsync(cookie))
        {
            Assert.True(json is null, $"{path} served an expired session");
        }

        Assert.Equal(SessionLookupStatus.Expired, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);

        // The timer set at the cache's end deactivates the grain on its own.
        var fresh = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "local-timer"));
        Assert.NotNull(await cluster.SiloCaches[0].GetServerSessionAsync(fresh));
        Assert.True(cluster.IsSessionGrainActive(fresh));
        await Eventually.TrueAsync(() => !cluster.IsSessionGrainActive(fresh), "the session grain deactivated after MaxCacheAge");
    }

    [Fact]
    public async Task BadCookiesGiveNoSessionAndNoCrash()
    {
        string[] headers =
        [
            "",
            ";;;",
            "authjs.session-token=",
            "authjs.session-token=%E0%A4%A",
            "authjs.session-token=" + new string('a', 20_000),
            "authjs.session-token.0=abc; authjs.session-token.1=def",
            "other=1; authjs.session-token=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIn0..x.y.z",
        ];
        foreach (var header in headers)
        {
            foreach (var (path, json) in await cluster.LookUpEverywhereAsync(header))
            {
                Assert.True(json is null, $"{path} answered {json} for '{header[..Math.Min(40, header.Length)]}'");
            }
        }
    }
}
