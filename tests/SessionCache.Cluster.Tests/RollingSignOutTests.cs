using System.Text.Json.Nodes;
using SessionCache.AspNetCore;
using SessionCache.AuthJs;

namespace SessionCache.Cluster.Tests;

/// <summary>
/// Local JWT mode on real time: Auth.js stamps its tokens with the wall clock, and these tests
/// compare sign-in, sign-out and re-encode times across it, so this cluster's clock is never shifted.
/// </summary>
public sealed class RollingJwtCluster : SessionCluster
{
    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Local",
        ["SessionCache:Strategy"] = "Jwt",
        ["SessionCache:NegativeCacheAge"] = "00:00:01",
        ["AUTH_SECRET"] = AuthJsServer.Secret0,
        ["AUTH_SECRET_1"] = AuthJsServer.Secret1,
        ["AUTH_SECRET_2"] = AuthJsServer.Secret2,
    };
}

[CollectionDefinition(Name)]
public sealed class RollingJwtClusterCollection : ICollectionFixture<RollingJwtCluster>
{
    public const string Name = "Rolling JWT cluster";
}

/// <summary>A device: the cookies a browser keeps for the Auth.js app.</summary>
public sealed class Device(List<KeyValuePair<string, string>> cookies)
{
    public List<KeyValuePair<string, string>> Cookies { get; set; } = cookies;

    public string Header => AuthJsServer.CookieHeader(Cookies);

    /// <summary>The session token, chunks joined.</summary>
    public string Token => string.Concat(Cookies.Where(static c => c.Key.Contains("session-token", StringComparison.Ordinal)).Select(static c => c.Value));
}

/// <summary>Helpers for scenarios in which devices sign in, poll Auth.js, and sign out.</summary>
public static class Devices
{
    public static async Task<Device> SignInAsync(AuthJsServer authJs, string app, string user, string? image = null) =>
        new(await authJs.SignInAsync($"/{app}/auth", user, image));

    /// <summary>What <c>useSession</c> does on every window focus: asks Auth.js itself, which re-encodes the JWT.</summary>
    public static async Task<JsonNode?> PollAuthJsAsync(AuthJsServer authJs, string app, Device device)
    {
        var (session, setCookies) = await authJs.SessionEndpointWithCookiesAsync($"/{app}/auth", device.Header);
        device.Cookies = AuthJsServer.ApplySetCookies(device.Cookies, setCookies);
        return session;
    }

    /// <summary>Sign-in and sign-out times have whole seconds: waits until the wall clock's second changes.</summary>
    public static Task NextSecondAsync()
    {
        var second = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return Eventually.TrueAsync(() => DateTimeOffset.UtcNow.ToUnixTimeSeconds() > second, "the next second", timeoutSeconds: 5);
    }

    public static async Task AssertServedEverywhereAsync(SessionCluster cluster, Device device, string what)
    {
        foreach (var (path, json) in await cluster.LookUpEverywhereAsync(device.Header))
        {
            Assert.True(json is not null, $"{path} refused {what}");
        }
    }

    public static async Task AssertRefusedEverywhereAsync(SessionCluster cluster, Device device, string what)
    {
        foreach (var (path, json) in await cluster.LookUpEverywhereAsync(device.Header))
        {
            Assert.True(json is null, $"{path} served {what}");
        }
    }

    /// <summary>
    /// The scenario with several devices: A, B and C sign in; A signs out through Auth.js;
    /// B and C poll Auth.js, which re-encodes their cookies; the cluster refuses every copy, and
    /// serves a sign-in made after the sign-out, which it returns.
    /// </summary>
    public static async Task<Device> SignOutHoldsAcrossReencodesAsync(SessionCluster cluster, string app, string user)
    {
        var authJs = cluster.AuthJs;
        var a = await SignInAsync(authJs, app, user);
        var b = await SignInAsync(authJs, app, user);
        var c = await SignInAsync(authJs, app, user);
        await AssertServedEverywhereAsync(cluster, a, "device A");
        await AssertServedEverywhereAsync(cluster, b, "device B");

        // A signs out through Auth.js; events.signOut reaches the cluster.
        await NextSecondAsync();
        await authJs.SignOutAsync($"/{app}/auth", a.Cookies);
        await AssertRefusedEverywhereAsync(cluster, b, "device B after the sign-out");

        // B's front end polls Auth.js, which re-encodes B's still-valid token with a fresh iat.
        var before = b.Token;
        Assert.NotNull(await PollAuthJsAsync(authJs, app, b));
        Assert.NotEqual(before, b.Token);
        await AssertRefusedEverywhereAsync(cluster, b, "device B's rolled cookie");

        // C, never seen by the cluster, polled twice: still the same sign-in.
        await PollAuthJsAsync(authJs, app, c);
        await PollAuthJsAsync(authJs, app, c);
        await AssertRefusedEverywhereAsync(cluster, c, "device C's twice-rolled cookie");

        // Signing in again after the sign-out is a new sign-in, served.
        var d = await SignInAsync(authJs, app, user);
        await AssertServedEverywhereAsync(cluster, d, "a sign-in after the sign-out");
        return d;
    }

    /// <summary>Makes the Auth.js apps' events.signOut forward to a silo's invalidation endpoint while the body runs.</summary>
    public static async Task WithSignOutForwardedAsync(SessionCluster cluster, Func<Task> body)
    {
        await cluster.AuthJs.SetSignOutTargetAsync(new Uri(cluster.Fronts[0].BaseAddress!, SessionCacheEndpoints.InvalidatePath.TrimStart('/')), SessionCluster.ApiKey);
        try
        {
            await body();
        }
        finally
        {
            await cluster.AuthJs.SetSignOutTargetAsync(null, null);
        }
    }
}

[Collection(RollingJwtClusterCollection.Name)]
public sealed class RollingSignOutTests(RollingJwtCluster cluster)
{
    private AuthJsServer AuthJs => cluster.AuthJs;

    [Fact]
    public async Task WithAuthTimeStampedARolledCopyOfASignedOutDeviceStaysRefused()
    {
        await Devices.WithSignOutForwardedAsync(cluster, async () =>
        {
            var d = await Devices.SignOutHoldsAcrossReencodesAsync(cluster, "stamped", "roll-stamped");

            // The new sign-in's re-encoded copies are served; a second sign-out ends them too.
            await Devices.PollAuthJsAsync(AuthJs, "stamped", d);
            await Devices.AssertServedEverywhereAsync(cluster, d, "the rolled copy of a sign-in after the sign-out");
            await Devices.NextSecondAsync();
            await AuthJs.SignOutAsync("/stamped/auth", d.Cookies);
            await Devices.AssertRefusedEverywhereAsync(cluster, d, "the second sign-in after the second sign-out");
            await Devices.PollAuthJsAsync(AuthJs, "stamped", d);
            await Devices.AssertRefusedEverywhereAsync(cluster, d, "a copy rolled after the second sign-out");
        });
    }

    [Fact]
    public async Task WithoutAuthTimeARolledCopyIsServedAgainAsDocumented()
    {
        await Devices.WithSignOutForwardedAsync(cluster, async () =>
        {
            // The default app has no jwt callback lines: its tokens carry only iat, renewed on every poll.
            var a = await Devices.SignInAsync(AuthJs, "jwt", "roll-unstamped");
            var b = await Devices.SignInAsync(AuthJs, "jwt", "roll-unstamped");
            await Devices.AssertServedEverywhereAsync(cluster, b, "device B");

            await Devices.NextSecondAsync();
            await AuthJs.SignOutAsync("/jwt/auth", a.Cookies);
            await Devices.AssertRefusedEverywhereAsync(cluster, b, "device B after the sign-out");

            // docs/authjs.md says so plainly: without auth_time, a copy Auth.js re-encoded after the
            // sign-out looks like a later sign-in.
            await Devices.PollAuthJsAsync(AuthJs, "jwt", b);
            await Devices.AssertServedEverywhereAsync(cluster, b, "device B's rolled cookie (no auth_time: the documented gap)");
        });
    }

    [Fact]
    public async Task SigningOneSessionOutRefusesItsRolledCopiesButNotTheUsersOthers()
    {
        var a = await Devices.SignInAsync(AuthJs, "stamped", "roll-single");
        await Devices.NextSecondAsync();
        var b = await Devices.SignInAsync(AuthJs, "stamped", "roll-single");
        var original = new Device(a.Cookies);
        await Devices.AssertServedEverywhereAsync(cluster, a, "device A");

        // A's rolled copy is cached under its own key before the sign-out.
        await Devices.PollAuthJsAsync(AuthJs, "stamped", a);
        var rolledBefore = new Device(a.Cookies);
        await Devices.AssertServedEverywhereAsync(cluster, rolledBefore, "device A's rolled cookie");

        await cluster.ClientCache.InvalidateSessionAsync(original.Token);

        await Devices.AssertRefusedEverywhereAsync(cluster, original, "the signed-out token");
        await Devices.AssertRefusedEverywhereAsync(cluster, rolledBefore, "a copy rolled before the sign-out");
        await Devices.PollAuthJsAsync(AuthJs, "stamped", a);
        await Devices.AssertRefusedEverywhereAsync(cluster, a, "a copy rolled after the sign-out");
        await Devices.AssertServedEverywhereAsync(cluster, b, "the user's other sign-in");
    }

    [Fact]
    public async Task BadSignInTimesAreRefusedAndNeverUndoASignOut()
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var user = "user-roll-bad-auth-time";
        await cluster.ClientCache.InvalidateUserAsync(user);
        await Devices.NextSecondAsync();
        object[] tokens =
        [
            new { sub = user, name = "not a number", auth_time = "yesterday" },
            new { sub = user, name = "milliseconds", auth_time = now * 1000 },
            new { sub = user, name = "future", auth_time = now + 3600 },
            new { sub = user, name = "before the epoch of years", auth_time = -1e20 },
        ];
        foreach (var token in tokens)
        {
            var jwt = await AuthJs.MintAsync(token, AuthJsServer.Secret0);
            var result = await cluster.SiloCaches[0].LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=" + jwt));
            Assert.True(result.Status == SessionLookupStatus.Invalid, $"{token}: {result.Status}");
            Assert.All(await cluster.LookUpEverywhereAsync("authjs.session-token=" + jwt), static a => Assert.Null(a.SessionJson));
        }

        // Missing: iat stands in, and the token, minted after the sign-out, is served.
        var fresh = await AuthJs.MintAsync(new { sub = user, name = "no auth_time" }, AuthJsServer.Secret0);
        var served = await cluster.SiloCaches[1].LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=" + fresh));
        Assert.Equal(SessionLookupStatus.Session, served.Status);
        Assert.Null(served.SignedInAt);

        // A sign-in before the sign-out, re-encoded after it, stays refused.
        var old = await AuthJs.MintAsync(new { sub = user, name = "old sign-in", auth_time = now - 60 }, AuthJsServer.Secret0);
        Assert.Equal(SessionLookupStatus.Revoked, (await cluster.SiloCaches[2].LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=" + old))).Status);
    }
}
