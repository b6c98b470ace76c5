using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SessionCache.AuthJs;
using SessionCache.Client;

namespace SessionCache.Cluster.Tests;

/// <summary>
/// The co-hosting sample app (samples/WebApp) with its own silo on real ports, and an external
/// service connected to it over TCP with <c>AddSessionCacheClient</c>, as a user wires them.
/// </summary>
public sealed class SampleAppTests : IAsyncLifetime
{
    private readonly int _siloPort = FreePort();
    private readonly int _gatewayPort = FreePort();
    private AuthJsServer _authJs = null!;
    private WebApplicationFactory<Program> _app = null!;

    public async Task InitializeAsync()
    {
        _authJs = await SharedAuthJs.GetAsync();
        _app = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("SessionCache:Mode", "Local");
            web.UseSetting("AUTH_SECRET", AuthJsServer.Secret0);
            web.UseSetting("AUTH_SECRET_1", AuthJsServer.Secret1);
            web.UseSetting("AUTH_SECRET_2", AuthJsServer.Secret2);

            // The sample Auth.js app's own callbacks, which tests/authjs serves at /callbacks/auth.
            web.UseSetting("SessionCache:CallbacksModule", Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../samples/authjs-app/auth-callbacks.mjs")));
            web.UseSetting("SessionCache:ApiKey", SessionCluster.ApiKey);
            web.UseSetting("Cluster:SiloPort", _siloPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
            web.UseSetting("Cluster:GatewayPort", _gatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
            web.UseSetting("Cluster:ClusterId", "sample-" + _gatewayPort);
        });
        _ = _app.Server;
        await Eventually.TrueAsync(() => _app.Services.GetRequiredService<SessionCache.Client.Internals.NearCache>().IsLeaseValid, "the sample's silo subscribed to invalidations");
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task TheProtectedEndpointAnswers401WithoutASessionAndTheUserWithOne()
    {
        using var http = _app.CreateClient();
        using var anonymous = await http.GetAsync("/me");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        var cookie = AuthJsServer.CookieHeader(await _authJs.SignInAsync("/callbacks/auth", "sample-user"));
        using var request = new HttpRequestMessage(HttpMethod.Get, "/me") { Headers = { { "Cookie", cookie } } };
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var me = await Json.ReadObjectAsync(response);
        Assert.Equal("user-sample-user", me["id"]!.GetValue<string>());
        Assert.Equal("sample-user", me["name"]!.GetValue<string>());
        Assert.Equal("member", Assert.Single(me["roles"]!.AsArray())!.GetValue<string>());

        // Its session endpoint answers as Auth.js does.
        using var session = new HttpRequestMessage(HttpMethod.Get, "/api/auth/session") { Headers = { { "Cookie", cookie } } };
        using var sessionResponse = await http.SendAsync(session);
        Assert.Equal(
            Json.WithoutExpires((await _authJs.SessionEndpointAsync("/callbacks/auth", cookie))!.ToJsonString()),
            Json.WithoutExpires(await sessionResponse.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task TheAdminEndpointAdmitsTheRoleTheAppsCallbacksGive()
    {
        using var http = _app.CreateClient();
        var admin = AuthJsServer.CookieHeader(await _authJs.SignInAsync("/callbacks/auth", "admin-sample"));
        var member = AuthJsServer.CookieHeader(await _authJs.SignInAsync("/callbacks/auth", "member-sample"));

        async Task<HttpStatusCode> AdminAsync(string? cookie)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/admin");
            if (cookie is not null)
            {
                request.Headers.Add("Cookie", cookie);
            }

            using var response = await http.SendAsync(request);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await AdminAsync(admin));
        Assert.Equal(HttpStatusCode.Forbidden, await AdminAsync(member));
        Assert.Equal(HttpStatusCode.Unauthorized, await AdminAsync(null));
    }

    [Fact]
    public async Task AnExternalClientLooksUpAndSignsOutThroughTheGateway()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["Cluster:ClusterId"] = "sample-" + _gatewayPort;
        builder.Configuration["Cluster:Gateways:0"] = "127.0.0.1:" + _gatewayPort;
        builder.AddSessionCacheClient();
        using var client = builder.Build();
        await client.StartAsync();
        try
        {
            var cache = client.Services.GetRequiredService<ISessionCache>();
            var resolver = client.Services.GetRequiredService<ISessionResolver>();
            Assert.Same(cache, resolver);

            var cookies = await _authJs.SignInAsync("/callbacks/auth", "sample-client");
            var cookie = AuthJsServer.CookieHeader(cookies);
            var detailed = await cache.LookupAsync(SessionRequest.FromCookieHeader(cookie));
            Assert.True(detailed.Status == SessionLookupStatus.Session, $"{detailed.Status}: {detailed.Reason}");
            Assert.Equal("sample-client", (await cache.GetServerSessionAsync(cookie))?.User?.Name);

            // The session the app's callbacks shape, and the token they were given, across the gateway.
            Assert.Equal(
                Json.WithoutExpires((await _authJs.SessionEndpointAsync("/callbacks/auth", cookie))!.ToJsonString()),
                Json.WithoutExpires((await cache.GetServerSessionAsync(cookie))!.ToString()));
            var token = await cache.GetTokenAsync(SessionRequest.FromCookieHeader(cookie));
            using (var claims = token!.ToJsonDocument())
            {
                Assert.Equal("user-sample-client", claims.RootElement.GetProperty("sub").GetString());
                Assert.Equal("member", claims.RootElement.GetProperty("role").GetString());
            }

            Assert.Equal(Assert.Single(cookies).Value, await cache.GetRawTokenAsync(SessionRequest.FromCookieHeader(cookie)));

            using var http = _app.CreateClient();
            using var before = new HttpRequestMessage(HttpMethod.Get, "/me") { Headers = { { "Cookie", cookie } } };
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(before)).StatusCode);

            await cache.InvalidateUserAsync("user-sample-client");

            Assert.Null(await cache.GetServerSessionAsync(cookie));
            Assert.Null(await cache.GetTokenAsync(SessionRequest.FromCookieHeader(cookie)));
            using var after = new HttpRequestMessage(HttpMethod.Get, "/me") { Headers = { { "Cookie", cookie } } };
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(after)).StatusCode);
        }
        finally
        {
            await client.StopAsync();
        }
    }

    [Fact]
    public async Task AClientWithAMalformedGatewayFailsToStartNamingTheKey()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["Cluster:Gateways:0"] = "no port here";
        builder.AddSessionCacheClient();
        using var client = builder.Build();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => client.StartAsync());
        Assert.Contains("Cluster:Gateways", error.ToString(), StringComparison.Ordinal);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
