using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs;

namespace SessionCache.Silo.Tests;

/// <summary>
/// The API key and the dashboard's doors on a real silo web app: one key value for every endpoint,
/// the sign-in form's antiforgery token and rate limit, and what reverse proxies' forwarding
/// headers change (only when <c>SessionCache:Dashboard:KnownProxies</c> lists them).
/// </summary>
[Collection(InProcessSilos.Name)]
public sealed partial class DashboardSecurityTests
{
    private const string Secret = "silo-test-secret-0123456789abcdef";
    private const string Key = "dashboard-test-key-0123456789";

    [Fact]
    public async Task AKeySetInCodeIsTheKeyOfTheInvalidationEndpointAndTheDashboardAlike()
    {
        // The configuration names another key; the code's, applied after it, is the options value.
        await using var app = await StartAsync(
            new() { ["SessionCache:ApiKey"] = "the-configured-key-overridden-in-code" },
            builder => builder.Services.Configure<SessionCacheOptions>(static options => options.ApiKey = Key));
        using var http = Client(app);
        await WaitForHealthyAsync(http);

        Assert.Equal(HttpStatusCode.OK, await InvalidateAsync(http, Key));
        Assert.Equal(HttpStatusCode.OK, await DashboardAsync(http, Key));
        Assert.Equal(HttpStatusCode.Unauthorized, await InvalidateAsync(http, "the-configured-key-overridden-in-code"));
        Assert.Equal(HttpStatusCode.Unauthorized, await DashboardAsync(http, "the-configured-key-overridden-in-code"));
        Assert.Equal(HttpStatusCode.Unauthorized, await InvalidateAsync(http, null));
        Assert.Equal(HttpStatusCode.Unauthorized, await DashboardAsync(http, null));
    }

    [Fact]
    public async Task ASignInWithoutTheFormsAntiforgeryTokenIsRefusedWith400()
    {
        await using var app = await StartAsync(new() { ["SessionCache:ApiKey"] = Key });
        using var http = Client(app);

        // The right key, posted as another site's page would: no token, no antiforgery cookie.
        using var forged = await http.SendAsync(LoginPost(Key, form: null));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Null(DashboardCookie(forged));
        Assert.Contains("did not come from this dashboard", await forged.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A token without the cookie it goes with is no better.
        var form = await GetFormAsync(http);
        using var tokenOnly = await http.SendAsync(LoginPost(Key, form with { Cookie = string.Empty }));
        Assert.Equal(HttpStatusCode.BadRequest, tokenOnly.StatusCode);
        Assert.Null(DashboardCookie(tokenOnly));

        // The form as the dashboard served it signs in, and its cookie opens the dashboard.
        using var signIn = await http.SendAsync(LoginPost(Key, form));
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        Assert.Equal("/dashboard/sessions", signIn.Headers.Location?.OriginalString);
        var cookie = DashboardCookie(signIn);
        Assert.NotNull(cookie);
        Assert.DoesNotContain(Key, cookie, StringComparison.Ordinal);
        using var page = new HttpRequestMessage(HttpMethod.Get, "dashboard/sessions") { Headers = { { "Cookie", cookie.Split(';')[0] } } };
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(page)).StatusCode);
    }

    [Fact]
    public async Task TheSixthSignInAttemptInAMinuteFromOneAddressIs429WithRetryAfter()
    {
        // Behind a proxy on loopback, so that each test client can have an address of its own.
        await using var app = await StartAsync(new() { ["SessionCache:ApiKey"] = Key, ["SessionCache:Dashboard:KnownProxies:0"] = "127.0.0.1" });
        using var http = Client(app);

        for (var attempt = 1; attempt <= 5; attempt++)
        {
            using var wrong = await http.SendAsync(LoginPost("not-the-key", await GetFormAsync(http), forwardedFor: "198.51.100.7"));
            Assert.True(wrong.StatusCode == HttpStatusCode.Redirect, $"attempt {attempt}: {wrong.StatusCode}");
            Assert.Contains("failed=true", wrong.Headers.Location?.OriginalString, StringComparison.Ordinal);
        }

        // The sixth, even with the right key and a valid form, is not looked at.
        using var sixth = await http.SendAsync(LoginPost(Key, await GetFormAsync(http), forwardedFor: "198.51.100.7"));
        Assert.Equal(HttpStatusCode.TooManyRequests, sixth.StatusCode);
        Assert.Null(DashboardCookie(sixth));
        var retryAfter = Assert.Single(sixth.Headers.GetValues("Retry-After"));
        Assert.InRange(int.Parse(retryAfter, System.Globalization.CultureInfo.InvariantCulture), 1, 60);

        // Without a form, too: the limit comes before anything else is read.
        using var bare = await http.SendAsync(LoginPost(Key, form: null, forwardedFor: "198.51.100.7"));
        Assert.Equal(HttpStatusCode.TooManyRequests, bare.StatusCode);

        // Another address has attempts of its own.
        using var other = await http.SendAsync(LoginPost(Key, await GetFormAsync(http), forwardedFor: "198.51.100.8"));
        Assert.Equal(HttpStatusCode.Redirect, other.StatusCode);
        Assert.NotNull(DashboardCookie(other));
    }

    [Fact]
    public async Task WithAKnownProxyAClientItForwardsFromElsewhereIsNotLoopback()
    {
        // No key: the dashboard is this machine's only. A proxy on loopback forwards a remote client.
        await using var app = await StartAsync(new() { ["SessionCache:Dashboard:KnownProxies:0"] = "127.0.0.1" });
        using var http = Client(app);

        Assert.Equal(HttpStatusCode.Forbidden, await DashboardAsync(http, null, ("X-Forwarded-For", "203.0.113.5")));
        Assert.Equal(HttpStatusCode.Forbidden, await DashboardAsync(http, null, ("X-Forwarded-For", "127.0.0.1, 203.0.113.5")));
        // A client on this machine through the proxy, and a request without one, are local.
        Assert.Equal(HttpStatusCode.OK, await DashboardAsync(http, null, ("X-Forwarded-For", "127.0.0.1")));
        Assert.Equal(HttpStatusCode.OK, await DashboardAsync(http, null));
    }

    [Fact]
    public async Task WithoutKnownProxiesAForwardedRequestFromLoopbackIsNotLocal()
    {
        await using var app = await StartAsync([]);
        using var http = Client(app);

        // A reverse proxy on this machine connects from loopback on behalf of someone else.
        Assert.Equal(HttpStatusCode.Forbidden, await DashboardAsync(http, null, ("X-Forwarded-For", "203.0.113.5")));
        Assert.Equal(HttpStatusCode.Forbidden, await DashboardAsync(http, null, ("X-Forwarded-For", "127.0.0.1")));
        Assert.Equal(HttpStatusCode.Forbidden, await DashboardAsync(http, null, ("Forwarded", "for=203.0.113.5;proto=https")));
        Assert.Equal(HttpStatusCode.Forbidden, await DashboardAsync(http, null, ("X-Real-IP", "203.0.113.5")));
        Assert.Equal(HttpStatusCode.OK, await DashboardAsync(http, null));
    }

    [Fact]
    public async Task TheDashboardCookieIsSecureWhenAKnownProxyReceivedHttps()
    {
        await using var app = await StartAsync(new() { ["SessionCache:ApiKey"] = Key, ["SessionCache:Dashboard:KnownProxies:0"] = "127.0.0.0/8" });
        using var http = Client(app);

        using var https = await http.SendAsync(LoginPost(Key, await GetFormAsync(http), forwardedFor: "203.0.113.9", forwardedProto: "https"));
        using var plain = await http.SendAsync(LoginPost(Key, await GetFormAsync(http), forwardedFor: "203.0.113.10", forwardedProto: "http"));

        Assert.Equal(HttpStatusCode.Redirect, https.StatusCode);
        Assert.Contains("; secure", DashboardCookie(https), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.Redirect, plain.StatusCode);
        Assert.DoesNotContain("secure", DashboardCookie(plain), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task WithoutKnownProxiesXForwardedProtoIsNotBelieved()
    {
        await using var app = await StartAsync(new() { ["SessionCache:ApiKey"] = Key });
        using var http = Client(app);

        using var signIn = await http.SendAsync(LoginPost(Key, await GetFormAsync(http), forwardedProto: "https"));

        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        Assert.DoesNotContain("secure", DashboardCookie(signIn), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("proxy.internal")]
    [InlineData("10.0.0.0/8,10.0.0.6")]
    [InlineData("10.0.0.0/33")]
    public async Task AKnownProxyThatIsNoAddressOrNetworkStopsTheSiloNamingTheKey(string entry)
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            // Stopped again should it start after all.
            await using var app = await StartAsync(new() { ["SessionCache:Dashboard:KnownProxies:0"] = "10.0.0.5", ["SessionCache:Dashboard:KnownProxies:1"] = entry });
        });

        Assert.Contains($"SessionCache:Dashboard:KnownProxies contains '{entry}'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("'10.0.0.5'", error.Message, StringComparison.Ordinal);
    }

    private static Task<WebApplication> StartAsync(Dictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null)
    {
        settings.TryAdd("AUTH_SECRET", Secret);
        settings.TryAdd("SessionCache:Mode", "Local");
        return TestSilo.StartInProcessAsync(settings, configure);
    }

    // Every cookie and redirect under the test's control.
    private static HttpClient Client(WebApplication app) =>
        new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = TestSilo.Address(app) };

    private static async Task<HttpStatusCode> InvalidateAsync(HttpClient http, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/sessions/invalidate")
        {
            Content = new StringContent("""{"userId":"user-dashboard-test"}""", Encoding.UTF8, "application/json"),
        };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    private static async Task<HttpStatusCode> DashboardAsync(HttpClient http, string? key, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "dashboard/sessions");
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>The key form as a browser gets it: its antiforgery cookie and hidden token.</summary>
    private static async Task<LoginForm> GetFormAsync(HttpClient http)
    {
        using var response = await http.GetAsync("dashboard/login");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var page = await response.Content.ReadAsStringAsync();
        var token = HiddenToken().Match(page);
        Assert.True(token.Success, page);
        var cookie = response.Headers.GetValues("Set-Cookie").Single(static c => c.StartsWith(".AspNetCore.Antiforgery.", StringComparison.Ordinal));
        return new LoginForm(cookie.Split(';')[0], WebUtility.HtmlDecode(token.Groups["name"].Value), WebUtility.HtmlDecode(token.Groups["value"].Value));
    }

    private static HttpRequestMessage LoginPost(string key, LoginForm? form, string? forwardedFor = null, string? forwardedProto = null)
    {
        var fields = new Dictionary<string, string> { ["key"] = key, ["returnUrl"] = "/dashboard/sessions" };
        if (form is not null)
        {
            fields[form.FieldName] = form.Token;
        }

        var request = new HttpRequestMessage(HttpMethod.Post, "dashboard/login") { Content = new FormUrlEncodedContent(fields) };
        if (form is { Cookie.Length: > 0 })
        {
            request.Headers.Add("Cookie", form.Cookie);
        }

        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        if (forwardedProto is not null)
        {
            request.Headers.Add("X-Forwarded-Proto", forwardedProto);
        }

        return request;
    }

    /// <summary>The <c>Set-Cookie</c> of the dashboard's own cookie, if the response set it.</summary>
    private static string? DashboardCookie(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var cookies)
            ? cookies.SingleOrDefault(static c => c.StartsWith("sessioncache-dashboard=", StringComparison.Ordinal))
            : null;

    private static Task WaitForHealthyAsync(HttpClient http) =>
        Eventually.TrueAsync(
            async () =>
            {
                using var response = await http.GetAsync("health");
                return response.StatusCode == HttpStatusCode.OK;
            },
            "the silo to report healthy");

    // The hidden field that is not the return address: the antiforgery token, whatever its name.
    [GeneratedRegex("""<input type="hidden" name="(?<name>(?!returnUrl")[^"]+)" value="(?<value>[^"]+)">""")]
    private static partial Regex HiddenToken();

    private sealed record LoginForm(string Cookie, string FieldName, string Token);
}
