using System.Net.Http.Json;
using SessionCache.AuthJs;

namespace SessionCache.Cluster.Tests;

/// <summary>Proxy mode with a short cache age, fail-safe and eager refresh on: the real Auth.js behind the switch fails on demand.</summary>
public sealed class FailSafeCluster : SessionCluster
{
    public static readonly TimeSpan MaxCacheAge = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan FailSafeMaxAge = TimeSpan.FromMinutes(2);

    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Proxy",
        ["SessionCache:Upstream"] = new Uri(authJs.BaseAddress, "switch/auth").ToString(),
        ["SessionCache:MaxCacheAge"] = MaxCacheAge.ToString(),
        ["SessionCache:FailSafeMaxAge"] = FailSafeMaxAge.ToString(),
        ["SessionCache:EagerRefresh"] = "0.9",
    };
}

/// <summary>The same with both turned off.</summary>
public sealed class NoFailSafeCluster : SessionCluster
{
    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Proxy",
        ["SessionCache:Upstream"] = new Uri(authJs.BaseAddress, "switch/auth").ToString(),
        ["SessionCache:MaxCacheAge"] = FailSafeCluster.MaxCacheAge.ToString(),
        ["SessionCache:FailSafeMaxAge"] = "00:00:00",
        ["SessionCache:EagerRefresh"] = "0",
    };
}

/// <summary>
/// While Auth.js fails, a session cached past its cache age is served for up to FailSafeMaxAge,
/// never past its expiry, never after a sign-out, never when Auth.js says it is gone; a session
/// in use is refreshed in the background before its cache age ends. One test per cluster: the
/// clock only moves forward.
/// </summary>
public sealed class FailSafeTests(FailSafeCluster cluster) : IClassFixture<FailSafeCluster>
{
    [Fact]
    public async Task A_hot_session_is_refreshed_ahead_and_a_cached_one_outlives_an_outage_within_every_limit()
    {
        var authJs = cluster.AuthJs;
        try
        {
            // 1. Eager refresh: past 90% of the cache age, a lookup is answered at once from the
            // cache and a resolution runs behind it; past the cache age nothing waits on Auth.js.
            var hot = AuthJsServer.CookieHeader(await authJs.SignInAsync("/jwt/auth", "failsafe-hot"));
            Assert.All(await cluster.LookUpEverywhereAsync(hot), static a => Assert.NotNull(a.SessionJson));
            var resolved = cluster.Resolutions;
            cluster.Clock.Advance(FailSafeCluster.MaxCacheAge * 0.92);
            Assert.Equal(SessionLookupStatus.Session, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(hot))).Status);
            await Eventually.TrueAsync(() => Task.FromResult(cluster.Resolutions == resolved + 1), "the session to be refreshed in the background");
            cluster.Clock.Advance(FailSafeCluster.MaxCacheAge * 0.2);
            Assert.All(await cluster.LookUpEverywhereAsync(hot), static a => Assert.NotNull(a.SessionJson));
            Assert.Equal(resolved + 1, cluster.Resolutions);

            // 2. Auth.js fails: past their cache age, cached sessions are still served.
            var kept = AuthJsServer.CookieHeader(await authJs.SignInAsync("/jwt/auth", "failsafe-kept"));
            var signedOut = AuthJsServer.CookieHeader(await authJs.SignInAsync("/jwt/auth", "failsafe-signed-out"));
            var gone = AuthJsServer.CookieHeader(await authJs.SignInAsync("/jwt/auth", "failsafe-gone"));
            foreach (var cookie in new[] { kept, signedOut, gone })
            {
                Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.NotNull(a.SessionJson));
            }

            await SwitchAsync(authJs, off: true);
            cluster.Clock.Advance(FailSafeCluster.MaxCacheAge + TimeSpan.FromSeconds(10));
            var before = cluster.Resolutions;
            Assert.All(await cluster.LookUpEverywhereAsync(kept), static a => Assert.NotNull(a.SessionJson));
            Assert.True(cluster.Resolutions > before, "upstream was not asked again past the cache age");
            Assert.Equal(SessionLookupStatus.Session, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(kept))).Status);

            // 3. Never after a sign-out, through the cluster, while Auth.js is down.
            await cluster.ClientCache.InvalidateUserAsync("user-failsafe-signed-out");
            foreach (var cache in cluster.SiloCaches.Append(cluster.ClientCache))
            {
                Assert.NotEqual(SessionLookupStatus.Session, (await cache.LookupAsync(SessionRequest.FromCookieHeader(signedOut))).Status);
            }

            // 4. Never when Auth.js answers that the session is gone: that is an answer, not a failure.
            await SwitchAsync(authJs, off: false, fault: "gone");
            cluster.Clock.Advance(TimeSpan.FromSeconds(10));
            foreach (var cache in cluster.SiloCaches.Append(cluster.ClientCache))
            {
                Assert.Equal(SessionLookupStatus.NoSession, (await cache.LookupAsync(SessionRequest.FromCookieHeader(gone))).Status);
            }

            // 5. Never past FailSafeMaxAge: then the outage shows.
            await SwitchAsync(authJs, off: true);
            Assert.Equal(SessionLookupStatus.Session, (await cluster.SiloCaches[0].LookupAsync(SessionRequest.FromCookieHeader(kept))).Status);
            cluster.Clock.Advance(FailSafeCluster.FailSafeMaxAge);
            foreach (var cache in cluster.SiloCaches.Append(cluster.ClientCache))
            {
                Assert.Equal(SessionLookupStatus.UpstreamError, (await cache.LookupAsync(SessionRequest.FromCookieHeader(kept))).Status);
            }

            // 6. Never past the session's own expiry: one that Auth.js says ends within the cache
            // age (the clock moved on to 40 s before the 30 days a session lasts) is kept only until then.
            await SwitchAsync(authJs, off: false);
            var expiring = AuthJsServer.CookieHeader(await authJs.SignInAsync("/jwt/auth", "failsafe-expiring"));
            cluster.Clock.Advance(TimeSpan.FromDays(30) - cluster.Clock.Offset - TimeSpan.FromSeconds(40));
            await Eventually.TrueAsync(async () => (await cluster.SiloCaches[1].LookupAsync(SessionRequest.FromCookieHeader(expiring))).Status == SessionLookupStatus.Session, "the expiring session to be cached");
            await SwitchAsync(authJs, off: true);
            cluster.Clock.Advance(TimeSpan.FromSeconds(50));
            foreach (var cache in cluster.SiloCaches.Append(cluster.ClientCache))
            {
                Assert.NotEqual(SessionLookupStatus.Session, (await cache.LookupAsync(SessionRequest.FromCookieHeader(expiring))).Status);
            }
        }
        finally
        {
            await SwitchAsync(authJs, off: false);
        }
    }

    internal static async Task SwitchAsync(AuthJsServer authJs, bool off, string? fault = null)
    {
        using var response = await authJs.Http.PostAsJsonAsync("config/switch", new { off, fault });
        response.EnsureSuccessStatusCode();
    }
}

/// <summary>With FailSafeMaxAge and EagerRefresh at zero, neither happens.</summary>
public sealed class NoFailSafeTests(NoFailSafeCluster cluster) : IClassFixture<NoFailSafeCluster>
{
    [Fact]
    public async Task Turned_off_an_outage_shows_once_the_cache_age_ends_and_nothing_is_refreshed_ahead()
    {
        var authJs = cluster.AuthJs;
        try
        {
            var cookie = AuthJsServer.CookieHeader(await authJs.SignInAsync("/jwt/auth", "no-failsafe"));
            Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.NotNull(a.SessionJson));
            var resolved = cluster.Resolutions;
            cluster.Clock.Advance(FailSafeCluster.MaxCacheAge * 0.95);
            Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.NotNull(a.SessionJson));
            Assert.Equal(resolved, cluster.Resolutions);

            await FailSafeTests.SwitchAsync(authJs, off: true);
            cluster.Clock.Advance(FailSafeCluster.MaxCacheAge * 0.1);
            foreach (var cache in cluster.SiloCaches.Append(cluster.ClientCache))
            {
                Assert.Equal(SessionLookupStatus.UpstreamError, (await cache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
            }
        }
        finally
        {
            await FailSafeTests.SwitchAsync(authJs, off: false);
        }
    }
}
