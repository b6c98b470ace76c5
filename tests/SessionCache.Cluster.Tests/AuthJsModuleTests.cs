
namespace SessionCache.Cluster.Tests;

/// <summary>
/// The repository's JS module (clients/authjs) inside a real @auth/express app: it stamps
/// auth_time, forwards sign-outs, and makes Auth.js itself clear a signed-out device's cookie.
/// </summary>
[Collection(RollingJwtClusterCollection.Name)]
public sealed class AuthJsModuleTests(RollingJwtCluster cluster)
{
    private const string App = "module";
    private AuthJsServer AuthJs => cluster.AuthJs;

    [Fact]
    public async Task ASignOutOnOneDeviceSignsTheOthersOutOfAuthJsItself()
    {
        await AuthJs.SetModuleTargetAsync(cluster.Fronts[1].BaseAddress!, SessionCluster.ApiKey);
        var a = await Devices.SignInAsync(AuthJs, App, "module-user");
        var b = await Devices.SignInAsync(AuthJs, App, "module-user");
        var c = await Devices.SignInAsync(AuthJs, App, "module-user");
        Assert.NotNull(await Devices.PollAuthJsAsync(AuthJs, App, b));
        await Devices.AssertServedEverywhereAsync(cluster, b, "device B");

        // The module stamped the sign-in time and kept it through the app's own jwt callback, which
        // builds a new token (its role shows it ran), across the poll's re-encode.
        var payload = await AuthJs.DecodeV5Async(b.Token, new[] { AuthJsServer.Secret0, AuthJsServer.Secret1, AuthJsServer.Secret2 });
        Assert.Equal(System.Text.Json.JsonValueKind.Number, JsonValueKindOf(payload!["auth_time"]));
        Assert.Equal("member", payload["role"]!.GetValue<string>());

        await Devices.NextSecondAsync();
        await AuthJs.SignOutAsync($"/{App}/auth", a.Cookies);

        // The module forwarded the sign-out: the cluster refuses B, and Auth.js, asked by B's front
        // end, answers null and clears B's cookie.
        await Devices.AssertRefusedEverywhereAsync(cluster, b, "device B after A signed out");
        var (session, setCookies) = await AuthJs.SessionEndpointWithCookiesAsync($"/{App}/auth", b.Header);
        Assert.Null(session);
        Assert.Contains(setCookies, static h => h.StartsWith("authjs.session-token=;", StringComparison.Ordinal) && h.Contains("Max-Age=0", StringComparison.Ordinal));
        b.Cookies = AuthJsServer.ApplySetCookies(b.Cookies, setCookies);
        Assert.Empty(b.Token);
        Assert.Null(await Devices.PollAuthJsAsync(AuthJs, App, c));

        // A new sign-in is honoured by both.
        var d = await Devices.SignInAsync(AuthJs, App, "module-user");
        Assert.NotNull(await Devices.PollAuthJsAsync(AuthJs, App, d));
        await Devices.AssertServedEverywhereAsync(cluster, d, "a sign-in after the sign-out");
    }

    [Fact]
    public async Task WhenTheClusterIsUnreachableAuthJsKeepsTheSessionAndSaysSo()
    {
        // A port nothing listens on.
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        await AuthJs.SetModuleTargetAsync(new Uri($"http://127.0.0.1:{port}/"), SessionCluster.ApiKey);
        try
        {
            var device = await Devices.SignInAsync(AuthJs, App, "module-unreachable");
            Assert.NotNull(await Devices.PollAuthJsAsync(AuthJs, App, device));
            Assert.Contains(await AuthJs.ModuleWarningsAsync(), static w => w.Contains("/api/sessions/status unreachable", StringComparison.Ordinal) && w.Contains("keeping the session", StringComparison.Ordinal));
        }
        finally
        {
            await AuthJs.SetModuleTargetAsync(cluster.Fronts[1].BaseAddress!, SessionCluster.ApiKey);
        }
    }

    private static System.Text.Json.JsonValueKind JsonValueKindOf(System.Text.Json.Nodes.JsonNode? node) =>
        node?.GetValueKind() ?? System.Text.Json.JsonValueKind.Undefined;
}
