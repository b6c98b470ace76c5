using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace SessionCache.TestSupport;

/// <summary>
/// The real Auth.js (<c>tests/authjs/server.mjs</c>) running in Node for the whole test run:
/// @auth/express apps to sign in against and compare with, plus Auth.js' own encode and decode.
/// </summary>
public sealed class AuthJsServer : IAsyncLifetime
{
    // Auth.js orders these [AUTH_SECRET_2, AUTH_SECRET_1, AUTH_SECRET] and encrypts with the first.
    public const string Secret0 = "test-secret-zero-0123456789abcdef0123456789";
    public const string Secret1 = "test-secret-one-0123456789abcdef0123456789a";
    public const string Secret2 = "test-secret-two-0123456789abcdef0123456789b";
    public const string NextAuthSecret = "test-nextauth-v4-secret-0123456789abcdef01";
    public const string SignInPassword = "correct horse";

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _stderr = new();
    private Process? _process;

    public HttpClient Http { get; } = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });

    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The Auth.js server's error output so far (it logs every token it rejects).</summary>
    public IEnumerable<string> ErrorOutput => _stderr;

    public static string DatabaseConnectionString =>
        Environment.GetEnvironmentVariable("SESSIONCACHE_TEST_PG")
        ?? throw new InvalidOperationException("SESSIONCACHE_TEST_PG is not set: run the tests with scripts/test.sh, which starts PostgreSQL.");

    public async Task InitializeAsync()
    {
        var directory = Path.Combine(RepositoryRoot(), "tests", "authjs");
        if (!Directory.Exists(Path.Combine(directory, "node_modules")))
        {
            throw new InvalidOperationException($"{directory}/node_modules is missing: run the tests with scripts/test.sh, which installs the pinned Auth.js packages.");
        }

        var start = new ProcessStartInfo("node", "server.mjs")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.Environment["AUTH_SECRET"] = Secret0;
        start.Environment["AUTH_SECRET_1"] = Secret1;
        start.Environment["AUTH_SECRET_2"] = Secret2;
        start.Environment["NODE_ENV"] = "test";
        start.Environment["DATABASE_URL"] = Environment.GetEnvironmentVariable("SESSIONCACHE_TEST_DATABASE_URL") ?? string.Empty;
        _process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        // Auth.js logs every rejected token at error level; keep it for a startup failure's message only.
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { _stderr.Enqueue(e.Data); } };
        _process.BeginErrorReadLine();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var line = await _process.StandardOutput.ReadLineAsync(timeout.Token)
                ?? throw new InvalidOperationException($"the Auth.js server exited before listening: {string.Join('\n', _stderr)}");
            if (line.StartsWith("LISTENING ", StringComparison.Ordinal))
            {
                BaseAddress = new Uri($"http://127.0.0.1:{line["LISTENING ".Length..]}/");
                break;
            }
        }

        Http.BaseAddress = BaseAddress;
    }

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process?.Dispose();
        Http.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Signs in through the credentials provider with the CSRF flow; returns the session cookies set.</summary>
    public async Task<List<KeyValuePair<string, string>>> SignInAsync(string basePath, string username, string? image = null)
    {
        using var csrfResponse = await Http.GetAsync($"{basePath}/csrf");
        csrfResponse.EnsureSuccessStatusCode();
        var csrfToken = (await csrfResponse.Content.ReadFromJsonAsync<JsonObject>())!["csrfToken"]!.GetValue<string>();
        var csrfCookies = SetCookies(csrfResponse);

        using var signIn = new HttpRequestMessage(HttpMethod.Post, $"{basePath}/callback/credentials")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["csrfToken"] = csrfToken,
                ["username"] = username,
                ["password"] = SignInPassword,
                ["image"] = image ?? string.Empty,
                ["callbackUrl"] = "/",
            }),
        };
        signIn.Headers.Add("Cookie", CookieHeader(csrfCookies));
        using var response = await Http.SendAsync(signIn);
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        var session = SetCookies(response).Where(static c => c.Key.Contains("session-token", StringComparison.Ordinal) && c.Value.Length > 0).ToList();
        Assert.NotEmpty(session);
        return session;
    }

    /// <summary>Signs out through Auth.js' own CSRF-protected sign-out, which fires <c>events.signOut</c>.</summary>
    public async Task SignOutAsync(string basePath, IEnumerable<KeyValuePair<string, string>> sessionCookies)
    {
        using var csrfResponse = await Http.GetAsync($"{basePath}/csrf");
        csrfResponse.EnsureSuccessStatusCode();
        var csrfToken = (await csrfResponse.Content.ReadFromJsonAsync<JsonObject>())!["csrfToken"]!.GetValue<string>();
        using var signOut = new HttpRequestMessage(HttpMethod.Post, $"{basePath}/signout")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["csrfToken"] = csrfToken, ["callbackUrl"] = "/" }),
        };
        signOut.Headers.Add("Cookie", CookieHeader(SetCookies(csrfResponse).Concat(sessionCookies)));
        using var response = await Http.SendAsync(signOut);
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Contains(SetCookies(response), static c => c.Key.Contains("session-token", StringComparison.Ordinal) && c.Value.Length == 0);
    }

    /// <summary>How many times an app's own <c>/session</c> endpoint was called (app: jwt, secure, db).</summary>
    public async Task<int> SessionCallsAsync(string app) =>
        (await Http.GetFromJsonAsync<JsonObject>($"calls/{app}"))!["count"]!.GetValue<int>();

    /// <summary>Turns the <c>/switch/auth</c> app off (503 for everything) or on.</summary>
    public async Task SwitchAsync(bool off)
    {
        using var response = await Http.PostAsJsonAsync("config/switch", new { off });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Makes the apps' <c>events.signOut</c> post to <paramref name="url"/> with the bearer key, or stop.</summary>
    public async Task SetSignOutTargetAsync(Uri? url, string? apiKey)
    {
        using var response = await Http.PostAsJsonAsync("config/signout-target", new { url = url?.ToString(), apiKey });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>What the Auth.js app's own <c>/session</c> endpoint answers for a cookie header.</summary>
    public async Task<JsonNode?> SessionEndpointAsync(string basePath, string? cookieHeader)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{basePath}/session");
        if (cookieHeader is not null)
        {
            request.Headers.TryAddWithoutValidation("Cookie", cookieHeader);
        }

        using var response = await Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// What an app's own <c>/session</c> endpoint answers and the raw <c>Set-Cookie</c> headers it
    /// sends (Auth.js re-encodes the JWT on every call: this is how a device's cookie rolls).
    /// </summary>
    public async Task<(JsonNode? Session, List<string> SetCookies)> SessionEndpointWithCookiesAsync(string basePath, string? cookieHeader)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{basePath}/session");
        if (cookieHeader is not null)
        {
            request.Headers.TryAddWithoutValidation("Cookie", cookieHeader);
        }

        using var response = await Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var setCookies = response.Headers.TryGetValues("Set-Cookie", out var values) ? values.ToList() : [];
        return (JsonNode.Parse(await response.Content.ReadAsStringAsync()), setCookies);
    }

    /// <summary>Points the <c>/module/auth</c> app (the repository's JS module) at a cluster.</summary>
    public async Task SetModuleTargetAsync(Uri url, string apiKey)
    {
        using var response = await Http.PostAsJsonAsync("config/module-target", new { url = url.ToString(), apiKey });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>What the JS module has logged as warnings so far.</summary>
    public async Task<List<string>> ModuleWarningsAsync() =>
        (await Http.GetFromJsonAsync<List<string>>("module-warnings"))!;

    /// <summary>
    /// Applies <c>Set-Cookie</c> headers to a device's cookies as a browser does: a value replaces
    /// the cookie of that name, <c>Max-Age=0</c> or an empty value removes it.
    /// </summary>
    public static List<KeyValuePair<string, string>> ApplySetCookies(IEnumerable<KeyValuePair<string, string>> cookies, IEnumerable<string> setCookies)
    {
        var jar = cookies.ToList();
        foreach (var header in setCookies)
        {
            var pair = header.Split(';')[0];
            var name = pair[..pair.IndexOf('=', StringComparison.Ordinal)];
            var value = pair[(name.Length + 1)..];
            jar.RemoveAll(c => c.Key == name);
            if (value.Length > 0 && !header.Contains("Max-Age=0", StringComparison.OrdinalIgnoreCase))
            {
                jar.Add(new(name, value));
            }
        }

        return jar;
    }

    public async Task<string> MintAsync(object token, object secret, string salt = "authjs.session-token", int? maxAge = null, bool omitKid = false, string? enc = null, long? issuedAt = null)
    {
        using var response = await Http.PostAsJsonAsync("mint/v5", new { token, secret, salt, maxAge, omitKid, enc, issuedAt });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["jwt"]!.GetValue<string>();
    }

    public async Task<string> MintV4Async(object token, string secret, int? maxAge = null, long? issuedAt = null)
    {
        using var response = await Http.PostAsJsonAsync("mint/v4", new { token, secret, maxAge, issuedAt });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["jwt"]!.GetValue<string>();
    }

    /// <summary>Auth.js' own <c>jwt.decode</c> of a v5 token; <see langword="null"/> when Auth.js refuses it.</summary>
    public async Task<JsonNode?> DecodeV5Async(string token, object secret, string salt = "authjs.session-token")
    {
        using var response = await Http.PostAsJsonAsync("decode/v5", new { token, secret, salt });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["payload"];
    }

    public async Task<JsonNode?> DecodeV4Async(string token, string secret)
    {
        using var response = await Http.PostAsJsonAsync("decode/v4", new { token, secret });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["payload"];
    }

    /// <summary>
    /// A token of a JWE header variant (<c>tests/authjs/jwe-variants.mjs</c>) made by jose, and what
    /// the flavor's own decode (<c>v5</c>: Auth.js', <c>v4</c>: NextAuth.js') makes of it with the same secrets.
    /// </summary>
    public async Task<JweVerdict> JudgeJweVariantAsync(string flavor, string variant, object secret)
    {
        using var response = await Http.PostAsJsonAsync("jwe/variant", new { flavor, variant, secret });
        response.EnsureSuccessStatusCode();
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        // Code units, so that a lone surrogate survives the trip.
        string? Units(string field) => body["user"]?[field] is JsonArray units ? new string(units.Select(static u => (char)u!.GetValue<int>()).ToArray()) : null;
        return new JweVerdict(body["token"]!.GetValue<string>(), body["accepted"]!.GetValue<bool>(), Units("name"), Units("email"), Units("sub"), body["reason"]?.GetValue<string>(), body["jose"]!.GetValue<string>());
    }

    /// <summary>
    /// Seeded raw DEFLATE streams, mostly damaged, with what zlib inflates each to under jose 4's
    /// limit (base64 SHA-256), or <see langword="null"/> where zlib refuses it.
    /// </summary>
    public async Task<List<(byte[] Input, string? Inflated)>> DeflateCasesAsync(int seed, int count)
    {
        var cases = (await Http.GetFromJsonAsync<JsonArray>($"deflate/cases?seed={seed}&count={count}"))!;
        return cases.Select(static c => (Convert.FromBase64String(c!["input"]!.GetValue<string>()), c["inflated"]?.GetValue<string>())).ToList();
    }

    /// <summary>The names of the JWE header variants the fixture can make.</summary>
    public async Task<List<string>> JweVariantsAsync() =>
        (await Http.GetFromJsonAsync<List<string>>("jwe/variants"))!;

    public async Task<(string UserId, string Token)> CreateDatabaseSessionAsync(string name, int expiresInSeconds, string? role = null, DateTimeOffset? expiresAt = null)
    {
        var token = Guid.NewGuid().ToString();
        using var response = await Http.PostAsJsonAsync("db/create-session", new
        {
            sessionToken = token,
            expiresInSeconds,
            expiresAt,
            user = new { name, email = $"{name}@example.test", image = (string?)null, role },
        });
        response.EnsureSuccessStatusCode();
        var body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        return (body["userId"]!.GetValue<string>(), token);
    }

    /// <summary>Another database session for an existing user (another device).</summary>
    public async Task<string> CreateDatabaseSessionForUserAsync(string userId, int expiresInSeconds, DateTimeOffset? expiresAt = null)
    {
        var token = Guid.NewGuid().ToString();
        using var response = await Http.PostAsJsonAsync("db/create-session", new { sessionToken = token, expiresInSeconds, userId, expiresAt });
        response.EnsureSuccessStatusCode();
        return token;
    }

    public async Task DeleteDatabaseUserAsync(string userId)
    {
        using var response = await Http.PostAsJsonAsync("db/delete-user", new { userId });
        response.EnsureSuccessStatusCode();
    }

    public async Task<int> FaultCallsAsync(string fault)
    {
        var body = await Http.GetFromJsonAsync<JsonObject>($"count/{fault}");
        return body!["count"]!.GetValue<int>();
    }

    public static string CookieHeader(IEnumerable<KeyValuePair<string, string>> cookies) =>
        string.Join("; ", cookies.Select(static c => $"{c.Key}={c.Value}"));

    private static List<KeyValuePair<string, string>> SetCookies(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var values)
            ? values.Select(static v => v.Split(';')[0]).Select(static p => new KeyValuePair<string, string>(p[..p.IndexOf('=', StringComparison.Ordinal)], p[(p.IndexOf('=', StringComparison.Ordinal) + 1)..])).ToList()
            : [];

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Cluster.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Cluster.sln not found above the test binaries.");
    }
}

/// <summary>
/// A jose-made token and the verdict of Auth.js' (or NextAuth.js') own decode: the string claims
/// the session is made of (<see langword="null"/> when missing or not a string), or why it refused.
/// </summary>
public sealed record JweVerdict(string Token, bool Accepted, string? Name, string? Email, string? Sub, string? Reason, string JoseVersion);
