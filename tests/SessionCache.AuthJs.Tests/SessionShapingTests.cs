using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SessionCache.AuthJs.Tests;

/// <summary>
/// Local mode shaped as the app shapes it: the sample app's own Auth.js callbacks module run in
/// .NET, against the real Auth.js running the same file; the field mapping; the .NET hook.
/// </summary>
[Collection(AuthJsCollection.Name)]
public sealed class SessionShapingTests(AuthJsServer authJs) : IDisposable
{
    internal static readonly string SampleCallbacks = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../samples/authjs-app/auth-callbacks.mjs"));

    private readonly string _scratch = Directory.CreateTempSubdirectory("callbacks-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private static ISessionResolver WithCallbacks(string module, Dictionary<string, string?>? extra = null)
    {
        var settings = Resolvers.JwtSettings();
        settings["SessionCache:CallbacksModule"] = module;
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        return Resolvers.Build(settings).GetRequiredService<ISessionResolver>();
    }

    private static ISessionResolver DatabaseWithSampleCallbacks() => Resolvers.Build(new()
    {
        ["SessionCache:Mode"] = "Local",
        ["SessionCache:Strategy"] = "Database",
        ["SessionCache:ConnectionString"] = AuthJsServer.DatabaseConnectionString,
        ["SessionCache:CallbacksModule"] = SampleCallbacks,
    }).GetRequiredService<ISessionResolver>();

    private string Module(string source)
    {
        var path = Path.Combine(_scratch, $"{Guid.NewGuid():N}.mjs");
        File.WriteAllText(path, source);
        return path;
    }

    /// <summary>The session as JSON text with <c>expires</c> taken out: member order counts.</summary>
    private static string WithoutExpires(JsonNode? session)
    {
        Assert.NotNull(session);
        var copy = session.DeepClone().AsObject();
        Assert.True(copy.Remove("expires"), "the session has no expires");
        return copy.ToJsonString();
    }

    [Theory]
    [InlineData("mo")]
    [InlineData("admin-ann")]
    public async Task RealSignInsAnswerWhatAuthJsAnswersWithTheSameCallbacks(string username)
    {
        var resolver = WithCallbacks(SampleCallbacks);
        var header = AuthJsServer.CookieHeader(await authJs.SignInAsync("callbacks/auth", username));

        var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        var expected = await authJs.SessionEndpointAsync("callbacks/auth", header);
        Assert.Equal(WithoutExpires(expected), WithoutExpires(JsonNode.Parse(result.Session!.ToString())));
        Assert.Equal(username.StartsWith("admin", StringComparison.Ordinal) ? "admin" : "member", expected!["user"]!["role"]!.GetValue<string>());
        Assert.NotNull(expected["auth_time"]);
        Assert.Equal($"user-{username}", result.UserId);
        Assert.NotNull(result.SignedInAt);
    }

    [Fact]
    public async Task MintedTokensWithAndWithoutTheAppsClaimsAnswerWhatAuthJsAnswers()
    {
        var resolver = WithCallbacks(SampleCallbacks);
        object[] tokens =
        [
            new { name = "Zoë", email = "zoe@example.test", sub = "user-zoe", role = "admin", orgs = new[] { "acme", "globex", "initech" }, auth_time = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 100 },
            new { name = "plain", sub = "user-plain" },
            new { sub = "user-nameless", orgs = "not-an-array" },
        ];
        foreach (var token in tokens)
        {
            var header = $"authjs.session-token={await authJs.MintAsync(token, AuthJsServer.Secret0)}";
            var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

            Assert.Equal(SessionLookupStatus.Session, result.Status);
            Assert.Equal(WithoutExpires(await authJs.SessionEndpointAsync("callbacks/auth", header)), WithoutExpires(JsonNode.Parse(result.Session!.ToString())));
        }
    }

    [Fact]
    public async Task ADatabaseSessionDueForAnUpdateGivesTheCallbackTheRowAsReadBeforeIt()
    {
        var resolver = DatabaseWithSampleCallbacks();

        // Two devices of one user whose sessions expire at the same instant, ten days out: both are
        // due for the daily update. Auth.js answers one, the cluster the other.
        var expiresAt = DateTimeOffset.UtcNow.AddDays(10);
        var (userId, first) = await authJs.CreateDatabaseSessionAsync("due", expiresInSeconds: 0, role: "editor", expiresAt: expiresAt);
        var second = await authJs.CreateDatabaseSessionForUserAsync(userId, expiresInSeconds: 0, expiresAt: expiresAt);

        var expected = await authJs.SessionEndpointAsync("dbcallbacks/auth", $"authjs.session-token={first}");
        var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader($"authjs.session-token={second}"));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        Assert.Equal(expected!.ToJsonString(), JsonNode.Parse(result.Session!.ToString())!.ToJsonString());
        Assert.Equal(SessionJsonExpiry(expiresAt), expected["expires"]!.GetValue<string>());
    }

    private static string SessionJsonExpiry(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task DatabaseSessionCallbackReadsTheUsersOwnColumnsAsAuthJsDoes()
    {
        var resolver = DatabaseWithSampleCallbacks();
        foreach (var role in (string?[])["editor", null])
        {
            var (userId, token) = await authJs.CreateDatabaseSessionAsync("dora", expiresInSeconds: (30 * 24 * 3600) - 60, role);
            var header = $"authjs.session-token={token}";

            var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

            Assert.Equal(SessionLookupStatus.Session, result.Status);
            Assert.Equal(userId, result.UserId);
            var expected = await authJs.SessionEndpointAsync("dbcallbacks/auth", header);
            Assert.Equal(role ?? "member", expected!["user"]!["role"]!.GetValue<string>());
            Assert.Equal(expected.ToJsonString(), JsonNode.Parse(result.Session!.ToString())!.ToJsonString());
        }
    }

    [Fact]
    public async Task ThrowingCallbacksGiveNoSessionLikeAuthJsAndLogNoData()
    {
        var header = $"authjs.session-token={await authJs.MintAsync(new { name = "secret-name-7781", sub = "user-thrower" }, AuthJsServer.Secret0)}";
        string[] modules =
        [
            "export const callbacks = { jwt({ token }) { throw new TypeError('bad ' + token.name) } }",
            "export const callbacks = { async session({ session, token }) { throw new RangeError(token.name) } }",
            "export const callbacks = { jwt: () => null }",
            "export const callbacks = { jwt: () => undefined }",
            "export const callbacks = { session: () => 'a string' }",
            "export const callbacks = { session: () => [1, 2] }",
            "export const callbacks = { async session() { await new Promise(() => {}) } }",
        ];
        foreach (var source in modules)
        {
            var resolver = WithCallbacks(Module(source));

            var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

            Assert.Equal(SessionLookupStatus.Invalid, result.Status);
            Assert.Null(await resolver.GetServerSessionAsync(header));
        }

        Assert.DoesNotContain(Resolvers.Logs, static line => line.Contains("secret-name-7781", StringComparison.Ordinal) || line.Contains("user-thrower", StringComparison.Ordinal));
        Assert.Contains(Resolvers.Logs, static line => line.Contains("jwt callback threw TypeError", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ResultsThatAreNoJsonObjectOrTooDeepAreNoSessionNotACrash()
    {
        var header = $"authjs.session-token={await authJs.MintAsync(new { name = "shape", sub = "user-shape" }, AuthJsServer.Secret0)}";
        string[] modules =
        [
            "export const callbacks = { session: () => ({ toJSON() {} }) }",
            "export const callbacks = { session: () => ({ toJSON: () => null }) }",
            "export const callbacks = { session: () => new Date(0) }",
            "export const callbacks = { session: () => new String('s') }",
            "export const callbacks = { jwt: ({ token }) => ({ ...token, toJSON: () => 'flat' }) }",
            "export const callbacks = { session() { let o = {}; for (let i = 0; i < 100000; i++) o = { o }; return o } }",
            "export const callbacks = { session() { const o = {}; o.self = o; return o } }",
            "export const callbacks = { jwt: undefined }",
            "class Callbacks { jwt() { return null } }\nexport const callbacks = new Callbacks()",
            "export const callbacks = { session: ({ session }) => ({ ...session, describe() { return 'x' }, at: new Date(0), none: undefined }) }",
        ];
        foreach (var source in modules)
        {
            var result = await WithCallbacks(Module(source)).LookupAsync(SessionRequest.FromCookieHeader(header));

            // A class instance's methods are not its callbacks (Auth.js spreads own properties only);
            // functions and undefined members are left out, as JSON.stringify leaves them out.
            if (source.StartsWith("class", StringComparison.Ordinal) || source.Contains("describe()", StringComparison.Ordinal))
            {
                Assert.Equal(SessionLookupStatus.Session, result.Status);
                Assert.DoesNotContain("describe", result.Session!.ToString(), StringComparison.Ordinal);
            }
            else
            {
                Assert.True(result.Status == SessionLookupStatus.Invalid, $"{source}: {result.Status}");
            }
        }
    }

    [Theory]
    [InlineData("for (;;) {}", SessionLookupStatus.UpstreamError, "ran out of time")]
    [InlineData("const a = []; for (;;) a.push('x'.repeat(1000000))", SessionLookupStatus.Invalid, "memory limit exceeded")]
    [InlineData("const f = (n) => f(n + 1) + 1; f(0)", SessionLookupStatus.Invalid, "recursion limit exceeded")]
    [InlineData("new Array(2e9).fill(0)", SessionLookupStatus.Invalid, "callback")]
    public async Task RunawayCallbacksAreStoppedAndTheSandboxRecovers(string runaway, SessionLookupStatus status, string reason)
    {
        // Runs away for one user only: the next resolution must get a working engine.
        var module = Module($"export const callbacks = {{ session({{ session, token }}) {{ if (token.sub === 'user-loop') {{ {runaway} }} return session }} }}");
        var services = Resolvers.Build(new(Resolvers.JwtSettings()) { ["SessionCache:CallbacksModule"] = module, ["SessionCache:CallbacksTimeLimit"] = "00:00:00.200" });
        var resolver = services.GetRequiredService<ISessionResolver>();
        var looping = SessionRequest.FromCookieHeader($"authjs.session-token={await authJs.MintAsync(new { name = "loop", sub = "user-loop" }, AuthJsServer.Secret0)}");
        var healthy = SessionRequest.FromCookieHeader($"authjs.session-token={await authJs.MintAsync(new { name = "fine", sub = "user-fine" }, AuthJsServer.Secret0)}");

        for (var attempt = 0; attempt < 3; attempt++)
        {
            var result = await resolver.LookupAsync(looping);

            Assert.Equal(status, result.Status);
            Assert.Contains(reason, result.Reason, StringComparison.Ordinal);
            Assert.Equal(SessionLookupStatus.Session, (await resolver.LookupAsync(healthy)).Status);
        }

        // Out of time is not the app saying "no session": the cookie stays.
        if (status == SessionLookupStatus.UpstreamError)
        {
            Assert.Empty(services.GetRequiredService<ISessionCookieWriter>().SetCookies(looping, await resolver.LookupAsync(looping)));
        }
    }

    [Fact]
    public async Task SandboxOffersNoWayOut()
    {
        var resolver = WithCallbacks(Module("""
            let evalResult;
            try { evalResult = eval("1 + 1") } catch (e) { evalResult = e.name }
            export const callbacks = { session: ({ session }) => ({ ...session, clr: typeof System, imp: typeof importNamespace, req: typeof require, proc: typeof process, fetch: typeof fetch, evalResult }) }
            """));
        var header = $"authjs.session-token={await authJs.MintAsync(new { name = "n", sub = "user-n" }, AuthJsServer.Secret0)}";

        var session = JsonNode.Parse((await resolver.GetServerSessionAsync(header))!.ToString())!;

        Assert.Equal("undefined", session["clr"]!.GetValue<string>());
        Assert.Equal("undefined", session["imp"]!.GetValue<string>());
        Assert.Equal("undefined", session["req"]!.GetValue<string>());
        Assert.Equal("undefined", session["proc"]!.GetValue<string>());
        Assert.Equal("undefined", session["fetch"]!.GetValue<string>());
        Assert.Equal("TypeError", session["evalResult"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("export const callbacks = {\n  session({ session }) {\n    return { ...session, \n  }\n", "line 5", "not a valid JavaScript module")]
    [InlineData("export const options = {}", "", "does not export `callbacks`")]
    [InlineData("export const callbacks = { jwt: 42 }", "", "`callbacks.jwt` is not a function")]
    [InlineData("import fs from 'node:fs'\nexport const callbacks = {}", "", "imports 'node:fs'")]
    [InlineData("const secret = process.env.AUTH_SECRET\nexport const callbacks = {}", "", "top level fails")]
    public void ABrokenModuleStopsTheStartNamingTheKeyAndTheFile(string source, string where, string problem)
    {
        var path = Module(source);
        var settings = Resolvers.JwtSettings();
        settings["SessionCache:CallbacksModule"] = path;

        var failure = Assert.Throws<OptionsValidationException>(() => Resolvers.Build(settings));

        foreach (var part in (string[])["SessionCache:CallbacksModule", path, where, problem])
        {
            Assert.True(failure.Message.Contains(part, StringComparison.Ordinal), $"'{part}' is not in: {failure.Message}");
        }
    }

    [Fact]
    public void AMissingModuleFileStopsTheStart()
    {
        var settings = Resolvers.JwtSettings();
        settings["SessionCache:CallbacksModule"] = Path.Combine(_scratch, "missing.mjs");

        var failure = Assert.Throws<OptionsValidationException>(() => Resolvers.Build(settings));

        Assert.Contains("cannot be read", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TwoWaysOfShapingAreRefused()
    {
        var settings = Resolvers.JwtSettings();
        settings["SessionCache:CallbacksModule"] = SampleCallbacks;
        settings["SessionCache:SessionFields:user.id"] = "sub";

        var failure = Assert.Throws<OptionsValidationException>(() => Resolvers.Build(settings));

        Assert.Contains("SessionCache:CallbacksModule and SessionCache:SessionFields", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FieldMappingCopiesClaimsIntoTheDefaultSession()
    {
        var settings = Resolvers.JwtSettings();
        settings["SessionCache:SessionFields:user.id"] = "sub";
        settings["SessionCache:SessionFields:user.role"] = "role";
        settings["SessionCache:SessionFields:orgs"] = "orgs";
        settings["SessionCache:SessionFields:org_id"] = "org.id";
        settings["SessionCache:SessionFields:missing"] = "nothing";
        var resolver = Resolvers.Build(settings).GetRequiredService<ISessionResolver>();
        var header = $"authjs.session-token={await authJs.MintAsync(new { name = "Mo", email = "mo@example.test", sub = "user-mo", role = "member", orgs = new[] { "acme" }, org = new { id = 7 } }, AuthJsServer.Secret0)}";

        var session = JsonNode.Parse((await resolver.GetServerSessionAsync(header))!.ToString())!;

        // What `{ ...session, user: { ...session.user, id: token.sub, role: token.role }, orgs: token.orgs, org_id: token.org.id }` gives.
        Assert.Equal("""{"user":{"name":"Mo","email":"mo@example.test","id":"user-mo","role":"member"},"orgs":["acme"],"org_id":7}""", WithoutExpires(session));
    }

    [Fact]
    public async Task CodeHookShapesTheSessionAndNullMeansNoSession()
    {
        var services = new ServiceCollection();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(Resolvers.JwtSettings()).Build();
        services.AddLogging();
        services.AddAuthJsSessionResolution(configuration, options => options.ShapeSession = context =>
        {
            if (context.Token.GetProperty("sub").GetString() == "user-banned")
            {
                return null;
            }

            var session = context.Session;
            session["user"]!["id"] = context.Token.GetProperty("sub").GetString();
            session["plan"] = context.Token.TryGetProperty("plan", out var plan) ? plan.GetString() : "free";
            return session;
        });
        await using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();
        var resolver = provider.GetRequiredService<ISessionResolver>();

        var shaped = await resolver.GetServerSessionAsync($"authjs.session-token={await authJs.MintAsync(new { name = "Pat", sub = "user-pat", plan = "pro" }, AuthJsServer.Secret0)}");
        var banned = await resolver.LookupAsync(SessionRequest.FromCookieHeader($"authjs.session-token={await authJs.MintAsync(new { name = "B", sub = "user-banned" }, AuthJsServer.Secret0)}"));

        Assert.Equal("""{"user":{"name":"Pat","id":"user-pat"},"plan":"pro"}""", WithoutExpires(JsonNode.Parse(shaped!.ToString())));
        Assert.Equal(SessionLookupStatus.Invalid, banned.Status);
    }

    [Fact]
    public async Task GetTokenAnswersTheDecodedPayloadAndTheRawToken()
    {
        var resolver = WithCallbacks(SampleCallbacks);
        var cookies = await authJs.SignInAsync("callbacks/auth", "tokenuser");
        var header = AuthJsServer.CookieHeader(cookies);
        var request = SessionRequest.FromCookieHeader(header);

        var token = await resolver.GetTokenAsync(request);
        var raw = await resolver.GetRawTokenAsync(request);

        Assert.NotNull(token);
        var expected = await authJs.DecodeV5Async(raw!, new[] { AuthJsServer.Secret0, AuthJsServer.Secret1, AuthJsServer.Secret2 });
        using var document = token.ToJsonDocument();
        Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(document.RootElement.GetRawText())), $"the payload differs from Auth.js' decode: {expected?.ToJsonString()} vs {document.RootElement.GetRawText()}");
        Assert.Equal("member", document.RootElement.GetProperty("role").GetString());
        Assert.Equal(string.Concat(cookies.Select(static c => c.Value)), raw);

        // The bearer fallback, and nothing for what is not a valid token.
        var bearer = SessionRequest.FromCookieHeader(null, "Bearer " + Uri.EscapeDataString(raw!));
        Assert.Equal(raw, await resolver.GetRawTokenAsync(bearer));
        Assert.NotNull(await resolver.GetTokenAsync(bearer));
        Assert.Null(await resolver.GetTokenAsync(SessionRequest.FromCookieHeader("authjs.session-token=garbage")));
        Assert.Null(await resolver.GetRawTokenAsync(SessionRequest.FromCookieHeader("authjs.session-token=garbage")));
        Assert.Null(await resolver.GetTokenAsync(SessionRequest.FromCookieHeader(null)));
    }

    [Fact]
    public async Task AReissuedCookieCarriesTheTokenTheJwtCallbackReturned()
    {
        var settings = Resolvers.JwtSettings();
        settings["SessionCache:CallbacksModule"] = Module("export const callbacks = { jwt: ({ token }) => ({ ...token, reads: (token.reads ?? 0) + 1 }) }");
        settings["SessionCache:Jwt:UpdateAge"] = "00:00:00";
        var services = Resolvers.Build(settings);
        var resolver = services.GetRequiredService<ISessionResolver>();
        var writer = services.GetRequiredService<ISessionCookieWriter>();
        var request = SessionRequest.FromCookieHeader($"authjs.session-token={await authJs.MintAsync(new { name = "r", sub = "user-r", auth_time = 1_700_000_000 }, AuthJsServer.Secret0)}");

        var setCookie = Assert.Single(writer.SetCookies(request, await resolver.LookupAsync(request)));

        var reissued = Uri.UnescapeDataString(setCookie["authjs.session-token=".Length..setCookie.IndexOf(';', StringComparison.Ordinal)]);
        var payload = (await authJs.DecodeV5Async(reissued, new[] { AuthJsServer.Secret0, AuthJsServer.Secret1, AuthJsServer.Secret2 }))!;
        Assert.Equal(1, payload["reads"]!.GetValue<int>());
        Assert.Equal(1_700_000_000, payload["auth_time"]!.GetValue<long>());
    }

    [Fact]
    public async Task AFailingCallbackClearsTheCookieAsAuthJsDoes()
    {
        var settings = Resolvers.JwtSettings();
        settings["SessionCache:CallbacksModule"] = Module("export const callbacks = { jwt: () => null }");
        var services = Resolvers.Build(settings);
        var request = SessionRequest.FromCookieHeader($"authjs.session-token={await authJs.MintAsync(new { name = "c", sub = "user-c" }, AuthJsServer.Secret0)}");

        var setCookie = Assert.Single(services.GetRequiredService<ISessionCookieWriter>().SetCookies(request, await services.GetRequiredService<ISessionResolver>().LookupAsync(request)));

        Assert.StartsWith("authjs.session-token=; Max-Age=0", setCookie, StringComparison.Ordinal);
    }
}
