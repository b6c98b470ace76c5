using SessionCache.AuthJs;

namespace SessionCache.Cluster.Tests;

/// <summary>Proxy mode's upstream counts in the cluster: resolutions against the real Auth.js, working or not.</summary>
[Collection(ProxyClusterCollection.Name)]
public sealed class ProxyClusterMetricsTests(ProxyCluster cluster)
{
    private const string Calls = "sessioncache.upstream.calls";
    private const string Errors = "sessioncache.upstream.errors";

    [Fact]
    public async Task ResolutionsAgainstAFailingAuthJsCountAsUpstreamCallsAndErrorsOnTheSilos()
    {
        var cookie = AuthJsServer.CookieHeader(await cluster.AuthJs.SignInAsync("/jwt/auth", "proxy-metrics"));
        var silos = cluster.Cluster.Silos.Select(static (s, i) => ($"silo {i}", s.ServiceProvider)).ToList();
        using var meters = new SessionCacheMeterReader(silos.Append(("client", cluster.ClientServices)));
        var siloNames = silos.Select(static s => s.Item1).ToList();
        var before = meters.Snapshot();

        const int failures = 2;
        await cluster.AuthJs.SwitchAsync(off: true);
        try
        {
            for (var i = 0; i < failures; i++)
            {
                Assert.Equal(SessionLookupStatus.UpstreamError, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
            }
        }
        finally
        {
            await cluster.AuthJs.SwitchAsync(off: false);
        }

        // Each failed resolution is one call and one error (its retries are not calls of their own),
        // counted on the silo whose grain resolved; an error is never cached, so each lookup resolved.
        var failed = meters.Snapshot();
        Assert.Equal(failures, failed.Delta(before, siloNames, Calls));
        Assert.Equal(failures, failed.Delta(before, siloNames, Errors));
        Assert.Equal(0, failed.Delta(before, "client", Calls));

        // Auth.js is back (the circuit may still be open for a few seconds): one more resolution
        // that works, then the session is cached and nothing more goes upstream.
        await Eventually.TrueAsync(
            async () => (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status == SessionLookupStatus.Session,
            "the session to resolve once Auth.js is back",
            30);

        var recovered = meters.Snapshot();
        Assert.Equal(1, recovered.Delta(before, siloNames, Calls) - recovered.Delta(before, siloNames, Errors));

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(SessionLookupStatus.Session, (await cluster.SiloCaches[i % cluster.SiloCaches.Count].LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
        }

        Assert.Equal(0, meters.Snapshot().Delta(recovered, siloNames, Calls));
    }

    [Fact]
    public async Task ABearerTokenWithoutACookieIsNotSentUpstreamNorCountedAsACall()
    {
        var silos = cluster.Cluster.Silos.Select(static (s, i) => ($"silo {i}", s.ServiceProvider)).ToList();
        using var meters = new SessionCacheMeterReader(silos);
        var siloNames = silos.Select(static s => s.Item1).ToList();
        var before = meters.Snapshot();
        var callsBefore = await cluster.AuthJs.SessionCallsAsync("switch");

        // Proxy mode forwards session cookies only: a bearer token alone is "no session", asked of nobody.
        var result = await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(null, "Bearer " + Guid.NewGuid()));

        Assert.Equal(SessionLookupStatus.NoSession, result.Status);
        Assert.Equal(callsBefore, await cluster.AuthJs.SessionCallsAsync("switch"));
        Assert.Equal(0, meters.Snapshot().Delta(before, siloNames, Calls));
    }

    [Fact]
    public async Task SigningOneSessionOutAsksAuthJsAtMostOnce()
    {
        var cookies = await cluster.AuthJs.SignInAsync("/jwt/auth", "proxy-metrics-signout");
        var cookie = AuthJsServer.CookieHeader(cookies);
        Assert.Equal(SessionLookupStatus.Session, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
        var silos = cluster.Cluster.Silos.Select(static (s, i) => ($"silo {i}", s.ServiceProvider)).ToList();
        using var meters = new SessionCacheMeterReader(silos);
        var siloNames = silos.Select(static s => s.Item1).ToList();
        var before = meters.Snapshot();
        var callsBefore = await cluster.AuthJs.SessionCallsAsync("switch");

        await cluster.ClientCache.InvalidateSessionAsync(cookies.Single().Value);

        var calls = await cluster.AuthJs.SessionCallsAsync("switch") - callsBefore;
        var counted = meters.Snapshot().Delta(before, siloNames, Calls);
        Assert.True(calls <= 1 && counted == calls, $"signing one cached session out sent {calls} requests to Auth.js; {counted} counted");
    }
}
