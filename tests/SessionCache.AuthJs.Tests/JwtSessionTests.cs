using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace SessionCache.AuthJs.Tests;

/// <summary>Local mode, JWT strategy, checked against what the real Auth.js answers for the same cookies.</summary>
[Collection(AuthJsCollection.Name)]
public sealed class JwtSessionTests(AuthJsServer authJs)
{
    private readonly ISessionResolver _resolver = Resolvers.Jwt();

    [Fact]
    public async Task SignedInSessionMatchesTheAuthJsEndpoint()
    {
        var cookies = await authJs.SignInAsync("jwt/auth", "alice");
        var header = AuthJsServer.CookieHeader(cookies);

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        AssertSameSession(await authJs.SessionEndpointAsync("jwt/auth", header), result.Session!);
        Assert.Equal("user-alice", result.UserId);
        Assert.NotNull(result.IssuedAt);
        Assert.True(result.ValidUntil <= result.Session!.Expires);
    }

    [Fact]
    public async Task CookieOverFourKilobytesIsReassembledFromItsChunks()
    {
        var cookies = await authJs.SignInAsync("jwt/auth", "bob", image: "https://img.example.test/" + new string('p', 5000));
        Assert.Contains(cookies, static c => c.Key == "authjs.session-token.0");
        Assert.Contains(cookies, static c => c.Key == "authjs.session-token.1");

        // Out of order in the header: the chunk number decides, as in Auth.js' SessionStore.
        cookies.Reverse();
        var header = AuthJsServer.CookieHeader(cookies);
        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        AssertSameSession(await authJs.SessionEndpointAsync("jwt/auth", header), result.Session!);
    }

    [Fact]
    public async Task SecurePrefixedCookieIsAccepted()
    {
        var cookies = await authJs.SignInAsync("secure/auth", "carol");
        Assert.All(cookies, static c => Assert.StartsWith("__Secure-authjs.session-token", c.Key, StringComparison.Ordinal));
        var header = AuthJsServer.CookieHeader(cookies);

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        AssertSameSession(await authJs.SessionEndpointAsync("secure/auth", header), result.Session!);
    }

    [Fact]
    public async Task BearerHeaderIsReadWhenThereIsNoCookie()
    {
        var token = await authJs.MintAsync(new { name = "dave", sub = "user-dave" }, AuthJsServer.Secret2);

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(null, "Bearer " + Uri.EscapeDataString(token)));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        Assert.Equal("user-dave", result.UserId);
    }

    [Fact]
    public async Task TokenExpiredBeyondTheClockToleranceIsExpired()
    {
        var token = await authJs.MintAsync(new { name = "erin" }, AuthJsServer.Secret2, maxAge: -60);
        var header = $"authjs.session-token={token}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Expired, result.Status);
        Assert.Null(await authJs.SessionEndpointAsync("jwt/auth", header));
    }

    [Fact]
    public async Task TokenExpiredWithinTheClockToleranceIsStillValid()
    {
        var token = await authJs.MintAsync(new { name = "frank" }, AuthJsServer.Secret2, maxAge: -5);
        var header = $"authjs.session-token={token}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        AssertSameSession(await authJs.SessionEndpointAsync("jwt/auth", header), result.Session!);
    }

    [Fact]
    public async Task ExpiryFollowsTheClock()
    {
        var token = await authJs.MintAsync(new { name = "gina" }, AuthJsServer.Secret2, maxAge: 3600);
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var resolver = Resolvers.Jwt(clock);
        var request = SessionRequest.FromCookieHeader($"authjs.session-token={token}");

        Assert.Equal(SessionLookupStatus.Session, (await resolver.LookupAsync(request)).Status);
        clock.Advance(TimeSpan.FromSeconds(3600 + 10));
        Assert.Equal(SessionLookupStatus.Session, (await resolver.LookupAsync(request)).Status);
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(SessionLookupStatus.Expired, (await resolver.LookupAsync(request)).Status);
    }

    [Fact]
    public async Task TokenForAnotherSecretIsInvalid()
    {
        var token = await authJs.MintAsync(new { name = "hank" }, "some-other-secret-nobody-configured-here");
        var header = $"authjs.session-token={token}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Invalid, result.Status);
        Assert.Null(await authJs.SessionEndpointAsync("jwt/auth", header));
    }

    [Theory]
    [InlineData(AuthJsServer.Secret0)]
    [InlineData(AuthJsServer.Secret1)]
    [InlineData(AuthJsServer.Secret2)]
    public async Task TokenOfEveryRotatedSecretIsFoundByItsKeyId(string secret)
    {
        var token = await authJs.MintAsync(new { name = "ivy", sub = "user-ivy" }, secret);
        var header = $"authjs.session-token={token}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        AssertSameSession(await authJs.SessionEndpointAsync("jwt/auth", header), result.Session!);
    }

    [Theory]
    [InlineData(AuthJsServer.Secret2, SessionLookupStatus.Session)]
    [InlineData(AuthJsServer.Secret1, SessionLookupStatus.Invalid)]
    [InlineData(AuthJsServer.Secret0, SessionLookupStatus.Invalid)]
    public async Task TokenWithoutKeyIdIsTriedWithTheFirstSecretOnly(string secret, SessionLookupStatus expected)
    {
        var token = await authJs.MintAsync(new { name = "jack" }, secret, omitKid: true);
        var header = $"authjs.session-token={token}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(expected, result.Status);
        var endpoint = await authJs.SessionEndpointAsync("jwt/auth", header);
        Assert.Equal(expected == SessionLookupStatus.Session, endpoint is not null);
    }

    [Fact]
    public async Task A256GcmTokenIsAccepted()
    {
        var token = await authJs.MintAsync(new { name = "kim", email = "kim@example.test" }, AuthJsServer.Secret1, enc: "A256GCM");
        var header = $"authjs.session-token={token}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        AssertSameSession(await authJs.SessionEndpointAsync("jwt/auth", header), result.Session!);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task TamperedTokenIsInvalid(int part)
    {
        var token = await authJs.MintAsync(new { name = "lee" }, AuthJsServer.Secret2);
        var parts = token.Split('.');

        // Flip one bit of the first decoded byte (header, IV, ciphertext or tag).
        var bytes = System.Buffers.Text.Base64Url.DecodeFromChars(parts[part]);
        bytes[part == 0 ? 2 : 0] ^= 0x01;
        parts[part] = System.Buffers.Text.Base64Url.EncodeToString(bytes);
        var header = $"authjs.session-token={string.Join('.', parts)}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Invalid, result.Status);
        Assert.Null(await authJs.SessionEndpointAsync("jwt/auth", header));
    }

    [Fact]
    public async Task UnknownContentEncryptionIsInvalid()
    {
        var token = await authJs.MintAsync(new { name = "max" }, AuthJsServer.Secret2);
        var parts = token.Split('.');
        parts[0] = System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes("""{"alg":"dir","enc":"A128GCM"}"""));
        var header = $"authjs.session-token={string.Join('.', parts)}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Invalid, result.Status);
        Assert.Null(await authJs.SessionEndpointAsync("jwt/auth", header));
    }

    [Theory]
    [InlineData("authjs.session-token=garbage")]
    [InlineData("authjs.session-token=a.b.c.d.e")]
    [InlineData("authjs.session-token=....")]
    [InlineData("authjs.session-token=%E0%A4%A")]
    [InlineData("authjs.session-token=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIn0..AAAA.AAAA.AAAA")]
    [InlineData("authjs.session-token.0=x; authjs.session-token.x=y")]
    // Headers no key is needed to send: a kid that is a lone surrogate, member names with lone
    // surrogates System.Text.Json throws on when it looks a member up, a BOM and invalid UTF-8.
    [InlineData("authjs.session-token=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoiXHVkODAwIn0..AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("authjs.session-token=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwieFx1ZGMwMCI6MSwiXHUwMDczXHVkODAwIjoxfQ..AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("authjs.session-token=77u_eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2Q0JDLUhTNTEyIiwia2lkIjoi_yJ9..AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("next-auth.session-token=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiXHVkODAwIn0..AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA")]
    public async Task GarbageCookieIsInvalidAndNeverThrows(string header)
    {
        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Invalid, result.Status);
        Assert.Null(await authJs.SessionEndpointAsync("jwt/auth", header));
    }

    [Theory]
    [InlineData("")]
    [InlineData("theme=dark")]
    [InlineData("authjs.session-token=")]
    [InlineData("authjs.csrf-token=abc; authjs.callback-url=%2F")]
    [InlineData("=;;;=;authjs.session-token")]
    public async Task RequestWithoutSessionCookieHasNoSession(string header)
    {
        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.NoSession, result.Status);
        Assert.Null(await authJs.SessionEndpointAsync("jwt/auth", header));
    }

    [Fact]
    public async Task CookieHeaderOverTheSizeLimitIsInvalid()
    {
        var token = await authJs.MintAsync(new { name = "ned" }, AuthJsServer.Secret2);
        var header = $"authjs.session-token={token}; padding={new string('x', 17 * 1024)}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Invalid, result.Status);
        Assert.Equal("cookie header too large", result.Reason);
    }

    [Fact]
    public async Task NextAuthV4TokenIsReadLikeNextAuthDecodes()
    {
        var token = await authJs.MintV4Async(new { name = "olga", email = "olga@example.test", picture = "https://img.example.test/o.png", sub = "user-olga" }, AuthJsServer.NextAuthSecret);
        var payload = await authJs.DecodeV4Async(token, AuthJsServer.NextAuthSecret);

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader($"next-auth.session-token={token}"));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        Assert.NotNull(payload);
        Assert.Equal(payload["name"]!.GetValue<string>(), result.Session!.User!.Name);
        Assert.Equal(payload["email"]!.GetValue<string>(), result.Session.User.Email);
        Assert.Equal(payload["picture"]!.GetValue<string>(), result.Session.User.Image);
        Assert.Equal(payload["sub"]!.GetValue<string>(), result.UserId);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(payload["iat"]!.GetValue<long>()), result.IssuedAt);
    }

    [Fact]
    public async Task NextAuthV4SecureCookieIsAccepted()
    {
        var token = await authJs.MintV4Async(new { name = "pia" }, AuthJsServer.NextAuthSecret);

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader($"__Secure-next-auth.session-token={token}"));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
    }

    [Fact]
    public async Task NextAuthV4TokenForAnotherSecretIsInvalid()
    {
        var token = await authJs.MintV4Async(new { name = "quinn" }, "another-v4-secret-nobody-configured");
        Assert.Null(await authJs.DecodeV4Async(token, AuthJsServer.NextAuthSecret));

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader($"next-auth.session-token={token}"));

        Assert.Equal(SessionLookupStatus.Invalid, result.Status);
    }

    [Fact]
    public async Task ExpiredNextAuthV4TokenIsExpired()
    {
        var token = await authJs.MintV4Async(new { name = "rita" }, AuthJsServer.NextAuthSecret, maxAge: -60);
        Assert.Null(await authJs.DecodeV4Async(token, AuthJsServer.NextAuthSecret));

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader($"next-auth.session-token={token}"));

        Assert.Equal(SessionLookupStatus.Expired, result.Status);
    }

    [Fact]
    public async Task EveryKindOfInputGivesTheSameSession()
    {
        var cookies = await authJs.SignInAsync("jwt/auth", "sam");
        var header = AuthJsServer.CookieHeader(cookies);
        var context = new DefaultHttpContext();
        context.Request.Headers.Cookie = header;
        using var message = new HttpRequestMessage(HttpMethod.Get, "http://localhost/");
        message.Headers.Add("Cookie", header);

        var sessions = new[]
        {
            await _resolver.GetServerSessionAsync(context.Request),
            await _resolver.GetServerSessionAsync(context.Request.Headers),
            await _resolver.GetServerSessionAsync(message),
            await _resolver.GetServerSessionAsync(header),
            await _resolver.GetServerSessionAsync((IEnumerable<KeyValuePair<string, string>>)cookies),
        };

        Assert.All(sessions, static s => Assert.Equal("sam", s?.User?.Name));
        Assert.Null(await _resolver.GetServerSessionAsync("theme=dark"));
    }

    [Fact]
    public async Task NoArgumentReadsTheCurrentRequest()
    {
        var cookies = await authJs.SignInAsync("jwt/auth", "tess");
        using var services = Resolvers.Build(Resolvers.JwtSettings());
        var accessor = (IHttpContextAccessor)services.GetService(typeof(IHttpContextAccessor))!;
        var resolver = (ISessionResolver)services.GetService(typeof(ISessionResolver))!;

        Assert.Null(await resolver.GetServerSessionAsync());

        var context = new DefaultHttpContext();
        context.Request.Headers.Cookie = AuthJsServer.CookieHeader(cookies);
        accessor.HttpContext = context;
        Assert.Equal("tess", (await resolver.GetServerSessionAsync())?.User?.Name);
        accessor.HttpContext = null;
    }

    [Fact]
    public async Task UnknownFieldsOfTheTokenDoNotLeakIntoTheSession()
    {
        var token = await authJs.MintAsync(new { name = "uma", role = "admin", picture = (string?)null }, AuthJsServer.Secret2);
        var header = $"authjs.session-token={token}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        // Auth.js' default session callback exposes name, email and image only; a null stays null.
        AssertSameSession(await authJs.SessionEndpointAsync("jwt/auth", header), result.Session!);
        var json = JsonNode.Parse(result.Session!.ToString())!;
        Assert.Null(json["role"]);
        Assert.True(json["user"]!.AsObject().ContainsKey("image"));
        Assert.False(json["user"]!.AsObject().ContainsKey("email"));
    }

    /// <summary>
    /// Same user object, key for key (missing stays missing, null stays null), and the same
    /// rolling expiry, which both compute as "now plus maxAge" a moment apart.
    /// </summary>
    internal static void AssertSameSession(JsonNode? expected, AuthJsSession actual)
    {
        Assert.NotNull(expected);
        var actualJson = JsonNode.Parse(actual.ToString())!;
        Assert.True(JsonNode.DeepEquals(expected["user"], actualJson["user"]), $"user differs: Auth.js {expected["user"]?.ToJsonString()} vs ours {actualJson["user"]?.ToJsonString()}");
        var expectedExpiry = DateTimeOffset.Parse(expected["expires"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange((actual.Expires!.Value - expectedExpiry).Duration(), TimeSpan.Zero, TimeSpan.FromSeconds(30));
        Assert.Equal(expected.AsObject().Select(static p => p.Key).Order(), actualJson.AsObject().Select(static p => p.Key).Order());
    }
}
