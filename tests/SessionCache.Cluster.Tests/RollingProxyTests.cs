using SessionCache.AuthJs.Tests;

namespace SessionCache.Cluster.Tests;

/// <summary>
/// Proxy mode in front of the app whose session callback exposes <c>auth_time</c> (the README's
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
}
