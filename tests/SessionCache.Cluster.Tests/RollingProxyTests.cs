
namespace SessionCache.Cluster.Tests;

/// <summary>
/// Proxy mode in front of the app whose session callback exposes <c>auth_time</c> (docs/authjs.md's
/// lines), on real time as <see cref="RollingJwtCluster"/>.
/// </summary>
public sealed class RollingProxyCluster : SessionCluster
{
    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Proxy",
        ["SessionCache:Upstream"] = new Uri(authJs.BaseAddress, "stamped/auth").ToString(),
        ["SessionCache:NegativeCacheAge"] = "00:00:01",
    };
}

[CollectionDefinition(Name)]
public sealed class RollingProxyClusterCollection : ICollectionFixture<RollingProxyCluster>
{
    public const string Name = "Rolling proxy cluster";
}

[Collection(RollingProxyClusterCollection.Name)]
public sealed class RollingProxyTests(RollingProxyCluster cluster)
{
    private AuthJsServer AuthJs => cluster.AuthJs;

    [Fact]
    public Task WithTheSignInTimeExposedARolledCopyOfASignedOutDeviceStaysRefused() =>
        Devices.WithSignOutForwardedAsync(cluster, () => Devices.SignOutHoldsAcrossReencodesAsync(cluster, "stamped", "proxy-roll"));

    [Fact]
    public async Task SigningOneSessionOutRefusesItsRolledCopies()
    {
        var a = await Devices.SignInAsync(AuthJs, "stamped", "proxy-roll-single");
        await Devices.NextSecondAsync();
        var b = await Devices.SignInAsync(AuthJs, "stamped", "proxy-roll-single");
        var original = new Device(a.Cookies);
        await Devices.AssertServedEverywhereAsync(cluster, a, "device A");

        await cluster.ClientCache.InvalidateSessionAsync(original.Token);
        await Devices.PollAuthJsAsync(AuthJs, "stamped", a);
        await Devices.AssertRefusedEverywhereAsync(cluster, a, "a copy rolled after the sign-out");
        await Devices.AssertServedEverywhereAsync(cluster, b, "the user's other sign-in");
    }

    [Fact]
    public async Task ASignInTimeFieldThatIsNotAPastTimeIsRefused()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        object[] tokens =
        [
            new { sub = "user-proxy-bad-time", name = "not a time", auth_time = "yesterday" },
            new { sub = "user-proxy-bad-time", name = "future", auth_time = now + 3600 },
            new { sub = "user-proxy-bad-time", name = "milliseconds", auth_time = now * 1000 },
        ];
        foreach (var token in tokens)
        {
            var cookie = "authjs.session-token=" + await AuthJs.MintAsync(token, new[] { AuthJsServer.Secret0, AuthJsServer.Secret1, AuthJsServer.Secret2 });
            Assert.NotNull(await AuthJs.SessionEndpointAsync("/stamped/auth", cookie));
            var result = await cluster.ClientCache.LookupAsync(SessionCache.AuthJs.SessionRequest.FromCookieHeader(cookie));
            Assert.True(result.Status == SessionCache.AuthJs.SessionLookupStatus.Invalid, $"{token}: {result.Status}");
        }

        // As an ISO 8601 date it is read too.
        var iso = "authjs.session-token=" + await AuthJs.MintAsync(new { sub = "user-proxy-iso", name = "iso", auth_time = DateTimeOffset.UtcNow.AddMinutes(-5).ToString("O") }, AuthJsServer.Secret0);
        var served = await cluster.ClientCache.LookupAsync(SessionCache.AuthJs.SessionRequest.FromCookieHeader(iso));
        Assert.Equal(SessionCache.AuthJs.SessionLookupStatus.Session, served.Status);
        Assert.NotNull(served.SignedInAt);
    }
}
