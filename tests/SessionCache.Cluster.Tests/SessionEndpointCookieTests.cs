using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SessionCache.AspNetCore;

namespace SessionCache.Cluster.Tests;

/// <summary>
/// <c>GET /api/auth/session</c> sets the cookies Auth.js' own endpoint sets, and the real Auth.js
/// accepts what it re-issues.
/// </summary>
[Collection(RollingJwtClusterCollection.Name)]
public sealed partial class SessionEndpointCookieTests(RollingJwtCluster cluster)
{
    private static readonly string[] Secrets = [AuthJsServer.Secret0, AuthJsServer.Secret1, AuthJsServer.Secret2];

    private AuthJsServer AuthJs => cluster.AuthJs;

    private static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    [Fact]
    public async Task ATokenOlderThanUpdateAgeIsReissuedAndAuthJsServesTheSameSession()
    {
        var signedIn = Now - (2 * 86_400);
        var token = await AuthJs.MintAsync(new { sub = "user-reissue", name = "reissue", email = "reissue@example.test", picture = (string?)null, auth_time = signedIn, role = "member" }, Secrets, issuedAt: signedIn);
        var cookie = "authjs.session-token=" + token;

        var (json, setCookies) = await GetAsync(cluster.Fronts[0], cookie);
        Assert.NotNull(json);
        var reissued = Assert.Single(setCookies);

        // The same shape as the Set-Cookie Auth.js sends for the same cookie.
        var authJsSetCookies = await AuthJsSessionCookiesAsync("/jwt/auth", cookie);
        Assert.Equal(Shape(Assert.Single(authJsSetCookies)), Shape(reissued));
        var expires = DateTimeOffset.Parse(AttributeValue(reissued, "Expires"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(expires, DateTimeOffset.UtcNow.AddDays(30).AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(30).AddMinutes(1));

        // Auth.js decodes it: the same claims, iat, exp and jti renewed, auth_time kept.
        var device = new Device(AuthJsServer.ApplySetCookies([new("authjs.session-token", token)], setCookies));
        var payload = (await AuthJs.DecodeV5Async(device.Token, Secrets))!.AsObject();
        var before = (await AuthJs.DecodeV5Async(token, Secrets))!.AsObject();
        Assert.Equal(signedIn, payload["auth_time"]!.GetValue<long>());
        Assert.Equal("member", payload["role"]!.GetValue<string>());
        Assert.Equal("user-reissue", payload["sub"]!.GetValue<string>());
        Assert.InRange(payload["iat"]!.GetValue<long>(), Now - 5, Now + 1);
        Assert.Equal(payload["iat"]!.GetValue<long>() + (30 * 86_400), payload["exp"]!.GetValue<long>());
        Assert.NotEqual(before["jti"]!.GetValue<string>(), payload["jti"]!.GetValue<string>());

        // Auth.js' own endpoint serves the re-issued cookie as the session the cluster served.
        var authJsSession = await AuthJs.SessionEndpointAsync("/jwt/auth", device.Header);
        Assert.Equal(Json.WithoutExpires(json!.ToJsonString()), Json.WithoutExpires(authJsSession!.ToJsonString()));

        // The re-issued cookie is young: served, and not re-issued again.
        var (again, noCookies) = await GetAsync(cluster.Fronts[1], device.Header);
        Assert.NotNull(again);
        Assert.Empty(noCookies);
    }

    [Fact]
    public async Task AYoungTokenGetsNoCookieAndAnOldOneWithoutAuthTimeGetsItFromIat()
    {
        var young = AuthJsServer.CookieHeader(await AuthJs.SignInAsync("/jwt/auth", "young-token"));
        var (json, cookies) = await GetAsync(cluster.Fronts[2], young);
        Assert.NotNull(json);
        Assert.Empty(cookies);

        var issued = Now - (3 * 86_400);
        var old = await AuthJs.MintAsync(new { sub = "user-no-auth-time", name = "no auth_time" }, Secrets, issuedAt: issued);
        var (_, setCookies) = await GetAsync(cluster.Fronts[0], "authjs.session-token=" + old);
        var device = new Device(AuthJsServer.ApplySetCookies([new("authjs.session-token", old)], setCookies));
        Assert.Equal(issued, (await AuthJs.DecodeV5Async(device.Token, Secrets))!["auth_time"]!.GetValue<long>());
    }

    [Fact]
    public async Task AReissuedTokenPast4KbIsChunkedAsAuthJsChunksIt()
    {
        var signedIn = Now - (2 * 86_400);
        var image = "https://example.test/" + new string('p', 5000);
        var token = await AuthJs.MintAsync(new { sub = "user-chunked", name = "chunked", picture = image, auth_time = signedIn }, Secrets, issuedAt: signedIn);
        Assert.True(token.Length > 4096);

        // Presented unchunked: the stale whole cookie is cleared, the chunks set, as Auth.js does.
        var cookie = "authjs.session-token=" + token;
        var (json, setCookies) = await GetAsync(cluster.Fronts[1], cookie);
        Assert.NotNull(json);
        var authJsSetCookies = await AuthJsSessionCookiesAsync("/jwt/auth", cookie);
        Assert.Equal(authJsSetCookies.Select(Shape), setCookies.Select(Shape));
        Assert.Equal(["authjs.session-token", "authjs.session-token.0", "authjs.session-token.1"], setCookies.Select(Name));

        var device = new Device(AuthJsServer.ApplySetCookies([new("authjs.session-token", token)], setCookies));
        Assert.Equal(2, device.Cookies.Count);
        Assert.Equal(image, (await AuthJs.SessionEndpointAsync("/jwt/auth", device.Header))!["user"]!["image"]!.GetValue<string>());

        // Presented in chunks, young now: served from them, nothing set.
        var (chunked, none) = await GetAsync(cluster.Fronts[2], device.Header);
        Assert.Equal(image, chunked!["user"]!["image"]!.GetValue<string>());
        Assert.Empty(none);
    }

    [Fact]
    public async Task ASecureCookieIsReissuedSecureAndTheSecureAppAcceptsIt()
    {
        const string name = "__Secure-authjs.session-token";
        var signedIn = Now - (2 * 86_400);
        var token = await AuthJs.MintAsync(new { sub = "user-secure-reissue", name = "secure", auth_time = signedIn }, Secrets, salt: name, issuedAt: signedIn);
        var cookie = $"{name}={token}";
        var (json, setCookies) = await GetAsync(cluster.Fronts[0], cookie);
        Assert.NotNull(json);
        var reissued = Assert.Single(setCookies);
        Assert.StartsWith(name + "=", reissued, StringComparison.Ordinal);

        var authJsSetCookies = await AuthJsSessionCookiesAsync("/secure/auth", cookie);
        Assert.Equal(Shape(Assert.Single(authJsSetCookies)), Shape(reissued));
        Assert.Contains("; Secure", reissued, StringComparison.Ordinal);

        var device = new Device(AuthJsServer.ApplySetCookies([new(name, token)], setCookies));
        Assert.Equal("secure", (await AuthJs.SessionEndpointAsync("/secure/auth", device.Header))!["user"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task ANextAuthV4TokenIsReissuedAsNextAuthEncodesIt()
    {
        // With AUTH_SECRET only, NextAuth.js v4 cookies are read with that secret (NEXTAUTH_SECRET's fallback).
        var signedIn = Now - (2 * 86_400);
        var token = await AuthJs.MintV4Async(new { sub = "user-v4-reissue", name = "v4", auth_time = signedIn }, AuthJsServer.Secret0, issuedAt: signedIn);
        var (json, setCookies) = await GetAsync(cluster.Fronts[0], "next-auth.session-token=" + token);
        Assert.Equal("v4", json!["user"]!["name"]!.GetValue<string>());
        var reissued = Assert.Single(setCookies);
        Assert.Matches("^next-auth\\.session-token=[^;]+; Path=/; Expires=[^;]+ GMT; HttpOnly; SameSite=Lax$", reissued);

        // NextAuth.js' own decode takes it: A256GCM under the v4 key, iat renewed, auth_time kept.
        var device = new Device(AuthJsServer.ApplySetCookies([new("next-auth.session-token", token)], setCookies));
        var payload = (await AuthJs.DecodeV4Async(device.Token, AuthJsServer.Secret0))!;
        Assert.Equal(signedIn, payload["auth_time"]!.GetValue<long>());
        Assert.InRange(payload["iat"]!.GetValue<long>(), Now - 5, Now + 1);
        Assert.Equal("user-v4-reissue", payload["sub"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("authjs.session-token=not-a-token")]
    [InlineData("authjs.session-token.0=abc; authjs.session-token.1=def")]
    [InlineData("other=1; authjs.session-token=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIn0..x.y.z")]
    public async Task AnInvalidCookieIsClearedAsAuthJsClearsIt(string cookie)
    {
        var (json, setCookies) = await GetAsync(cluster.Fronts[0], cookie);
        Assert.Null(json);
        Assert.Null(await AuthJs.SessionEndpointAsync("/jwt/auth", cookie));
        var authJsSetCookies = await AuthJsSessionCookiesAsync("/jwt/auth", cookie);
        Assert.NotEmpty(setCookies);
        Assert.Equal(authJsSetCookies, setCookies);
    }

    [Fact]
    public async Task AnExpiredOrSignedOutTokenIsClearedAndNeverReissued()
    {
        var expired = await AuthJs.MintAsync(new { sub = "user-expired-cookie", name = "expired" }, Secrets, maxAge: -60);
        var (json, cleared) = await GetAsync(cluster.Fronts[1], "authjs.session-token=" + expired);
        Assert.Null(json);
        Assert.Equal(["authjs.session-token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"], cleared);

        // Old enough to be re-issued, but its user signed out: null, the cookie cleared, nothing new.
        var signedIn = Now - (2 * 86_400);
        var token = await AuthJs.MintAsync(new { sub = "user-signed-out-cookie", name = "signed out", auth_time = signedIn }, Secrets, issuedAt: signedIn);
        await cluster.ClientCache.InvalidateUserAsync("user-signed-out-cookie");
        var (revoked, setCookies) = await GetAsync(cluster.Fronts[2], "authjs.session-token=" + token);
        Assert.Null(revoked);
        Assert.Equal(["authjs.session-token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"], setCookies);

        // No cookie at all: nothing to clear.
        var (none, noCookies) = await GetAsync(cluster.Fronts[0], null);
        Assert.Null(none);
        Assert.Empty(noCookies);
    }

    [Fact]
    public async Task TheStatusEndpointAnswersFromTheUsersSignOuts()
    {
        var signedIn = Now - 30;
        Assert.False(await StatusAsync("user-status", signedIn));
        await Devices.NextSecondAsync();
        await cluster.ClientCache.InvalidateUserAsync("user-status");
        Assert.True(await StatusAsync("user-status", signedIn));
        Assert.True(await StatusAsync("user-status", signedIn), "cached");
        Assert.False(await StatusAsync("user-status", Now + 1));
        Assert.False(await StatusAsync("user-status-other", signedIn));

        // A single session's sign-out names its sign-in; cached answers hear of it.
        var a = await Devices.SignInAsync(AuthJs, "stamped", "status-single");
        await Devices.AssertServedEverywhereAsync(cluster, a, "device A");
        var authTime = (await AuthJs.DecodeV5Async(a.Token, Secrets))!["auth_time"]!.GetValue<long>();
        Assert.False(await StatusAsync("user-status-single", authTime));
        await cluster.SiloCaches[2].InvalidateSessionAsync(a.Token);
        Assert.True(await StatusAsync("user-status-single", authTime));
        Assert.False(await StatusAsync("user-status-single", authTime + 1));
    }

    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized, "SessionCache:ApiKey")]
    [InlineData("{not json", HttpStatusCode.BadRequest, "not JSON")]
    [InlineData("[]", HttpStatusCode.BadRequest, "JSON array")]
    [InlineData("{}", HttpStatusCode.BadRequest, "\"userId\" is missing")]
    [InlineData("""{"userId":42,"signedInAt":1}""", HttpStatusCode.BadRequest, "\"userId\" must be a non-empty string")]
    [InlineData("""{"userId":"u"}""", HttpStatusCode.BadRequest, "\"signedInAt\" must be a number of seconds")]
    [InlineData("""{"userId":"u","signedInAt":"1700000000"}""", HttpStatusCode.BadRequest, "\"signedInAt\" must be a number of seconds")]
    [InlineData("""{"userId":"u","signedInAt":1700000000000000}""", HttpStatusCode.BadRequest, "not milliseconds")]
    public async Task TheStatusEndpointSaysWhatIsWrong(string? body, HttpStatusCode status, string message)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, SessionCacheEndpoints.StatusPath.TrimStart('/'))
        {
            Content = new StringContent(body ?? "{}", System.Text.Encoding.UTF8, "application/json"),
        };
        if (body is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + SessionCluster.ApiKey);
        }

        using var response = await cluster.Fronts[0].SendAsync(request);
        Assert.Equal(status, response.StatusCode);
        Assert.Contains(message, (await Json.ReadObjectAsync(response))["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheStatusEndpointRefusesAnOversizedBody()
    {
        var body = $$"""{"userId":"{{new string('u', 5000)}}","signedInAt":1}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, SessionCacheEndpoints.StatusPath.TrimStart('/'))
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + SessionCluster.ApiKey);
        using var response = await cluster.Fronts[0].SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("larger than 4096 bytes", (await Json.ReadObjectAsync(response))["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    private async Task<bool> StatusAsync(string userId, long signedInAt)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, SessionCacheEndpoints.StatusPath.TrimStart('/'))
        {
            Content = new StringContent($$"""{"userId":"{{userId}}","signedInAt":{{signedInAt}}}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + SessionCluster.ApiKey);
        using var response = await cluster.Fronts[1].SendAsync(request);
        response.EnsureSuccessStatusCode();
        return (await Json.ReadObjectAsync(response))["signedOut"]!.GetValue<bool>();
    }

    private static async Task<(JsonNode? Session, List<string> SetCookies)> GetAsync(HttpClient front, string? cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, SessionCacheEndpoints.SessionPath.TrimStart('/'));
        if (cookie is not null)
        {
            request.Headers.TryAddWithoutValidation("Cookie", cookie);
        }

        using var response = await front.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var setCookies = response.Headers.TryGetValues("Set-Cookie", out var values) ? values.ToList() : [];
        return (JsonNode.Parse(await response.Content.ReadAsStringAsync()), setCookies);
    }

    /// <summary>The session cookies Auth.js' own endpoint sets for a cookie header (it sets its CSRF and callback cookies too).</summary>
    private async Task<List<string>> AuthJsSessionCookiesAsync(string basePath, string cookie) =>
        [.. (await AuthJs.SessionEndpointWithCookiesAsync(basePath, cookie)).SetCookies.Where(static c => Name(c).Contains("session-token", StringComparison.Ordinal))];

    private static string Name(string setCookie) => setCookie[..setCookie.IndexOf('=', StringComparison.Ordinal)];

    /// <summary>A Set-Cookie header without its value and date: name and attributes, in order.</summary>
    private static string Shape(string setCookie) =>
        ExpiresDate().Replace(Value().Replace(setCookie, "=<value>;"), "Expires=<date>");

    private static string AttributeValue(string setCookie, string attribute) =>
        setCookie.Split("; ").Single(p => p.StartsWith(attribute + "=", StringComparison.Ordinal))[(attribute.Length + 1)..];

    [GeneratedRegex("=[^;]+;")]
    private static partial Regex Value();

    [GeneratedRegex("Expires=[^;]+")]
    private static partial Regex ExpiresDate();
}
