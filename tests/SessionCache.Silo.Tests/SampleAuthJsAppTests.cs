using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace SessionCache.Silo.Tests;

/// <summary>
/// The sample Auth.js app as docker-compose.yml runs it: database sessions in PostgreSQL (signed
/// in by an e-mail link), resolved by a silo in database mode, and every sign-out posted by
/// <c>events.signOut</c> to the silo's invalidation endpoint.
/// </summary>
[Collection(InProcessSilos.Name)]
public sealed partial class SampleAuthJsAppTests
{
    private const string ApiKey = "sample-app-test-api-key";

    [Fact]
    public async Task TheSampleAppsDatabaseSessionsAreServedByTheSiloUntilSignedOutThere()
    {
        var connectionString = Require("SESSIONCACHE_TEST_PG");
        var databaseUrl = Require("SESSIONCACHE_TEST_DATABASE_URL");
        await using var silo = await TestSilo.StartInProcessAsync(new()
        {
            ["SessionCache:Mode"] = "Local",
            ["SessionCache:Strategy"] = "Database",
            ["SessionCache:ConnectionString"] = connectionString,
            ["SessionCache:ApiKey"] = ApiKey,
        });
        using var cluster = new HttpClient { BaseAddress = TestSilo.Address(silo) };
        await using var app = await SampleApp.StartAsync(databaseUrl, TestSilo.Address(silo));

        // Sign in by e-mail, as a person would: ask for a link, open it from the app's inbox.
        var email = $"sample-{Guid.NewGuid():N}@example.test";
        var cookies = await app.SignInByEmailAsync(email);
        var session = Assert.Single(cookies, static c => c.Key == "authjs.session-token");
        var cookieHeader = $"{session.Key}={session.Value}";

        var served = await SessionAsync(cluster, cookieHeader);
        Assert.Equal(email, served?["user"]?["email"]?.GetValue<string>());

        // Auth.js' own sign-out: it deletes the row and its events.signOut tells the silo.
        await app.SignOutAsync(cookieHeader);
        Assert.Null(await SessionAsync(cluster, cookieHeader));
    }

    private static string Require(string variable) => Environment.GetEnvironmentVariable(variable)
        ?? throw new InvalidOperationException($"{variable} is not set: run the tests through scripts/test.sh, which starts PostgreSQL.");

    private static async Task<JsonNode?> SessionAsync(HttpClient cluster, string cookieHeader)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/auth/session");
        request.Headers.Add("Cookie", cookieHeader);
        using var response = await cluster.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary><c>samples/authjs-app</c> as a Node process on a free port, in database mode.</summary>
    private sealed partial class SampleApp : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly HttpClient _http;

        private SampleApp(Process process, Uri address)
        {
            _process = process;
            _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = address };
        }

        public static async Task<SampleApp> StartAsync(string databaseUrl, Uri sessionCache)
        {
            var directory = Path.Combine(Repository.Root, "samples", "authjs-app");
            if (!Directory.Exists(Path.Combine(directory, "node_modules")))
            {
                throw new InvalidOperationException($"{directory}/node_modules is missing: run the tests with scripts/test.sh, which installs the sample app's packages.");
            }

            var start = new ProcessStartInfo("node", "server.mjs")
            {
                WorkingDirectory = directory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.Environment["AUTH_SECRET"] = "sample-app-test-secret-0123456789abcdef";
            start.Environment["PORT"] = "0";
            start.Environment["DATABASE_URL"] = databaseUrl;
            start.Environment["SESSION_CACHE_URL"] = sessionCache.ToString();
            start.Environment["SESSION_CACHE_API_KEY"] = ApiKey;
            var process = Process.Start(start)!;
            process.ErrorDataReceived += static (_, _) => { };
            process.BeginErrorReadLine();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (true)
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token)
                    ?? throw new InvalidOperationException("the sample Auth.js app exited before listening");
                if (line.StartsWith("LISTENING ", StringComparison.Ordinal))
                {
                    return new SampleApp(process, new Uri($"http://127.0.0.1:{line["LISTENING ".Length..]}/"));
                }
            }
        }

        public async Task<List<KeyValuePair<string, string>>> SignInByEmailAsync(string email)
        {
            var (csrfToken, csrfCookies) = await CsrfAsync(null);
            using var ask = new HttpRequestMessage(HttpMethod.Post, "auth/signin/email")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["csrfToken"] = csrfToken, ["email"] = email, ["callbackUrl"] = "/" }),
            };
            ask.Headers.Add("Cookie", csrfCookies);
            using (var asked = await _http.SendAsync(ask))
            {
                Assert.Equal(HttpStatusCode.Found, asked.StatusCode);
                Assert.Contains("verify-request", asked.Headers.Location!.ToString(), StringComparison.Ordinal);
            }

            var inbox = await _http.GetStringAsync(new Uri("inbox", UriKind.Relative));
            var link = WebUtility.HtmlDecode(InboxLink().Matches(inbox).Select(static m => m.Groups[1].Value).First(l => l.Contains(Uri.EscapeDataString(email), StringComparison.Ordinal)));
            using var opened = await _http.GetAsync(new Uri(link));
            Assert.Equal(HttpStatusCode.Found, opened.StatusCode);
            return SetCookies(opened);
        }

        public async Task SignOutAsync(string sessionCookie)
        {
            var (csrfToken, csrfCookies) = await CsrfAsync(sessionCookie);
            using var signOut = new HttpRequestMessage(HttpMethod.Post, "auth/signout")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["csrfToken"] = csrfToken, ["callbackUrl"] = "/" }),
            };
            signOut.Headers.Add("Cookie", $"{csrfCookies}; {sessionCookie}");
            using var response = await _http.SendAsync(signOut);

            // A failed events.signOut (the silo refusing the key, say) is an Auth.js error, not a 302 home.
            Assert.Equal(HttpStatusCode.Found, response.StatusCode);
            Assert.DoesNotContain("error", response.Headers.Location!.ToString(), StringComparison.OrdinalIgnoreCase);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
            _http.Dispose();
        }

        private async Task<(string Token, string Cookies)> CsrfAsync(string? sessionCookie)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "auth/csrf");
            if (sessionCookie is not null)
            {
                request.Headers.Add("Cookie", sessionCookie);
            }

            using var response = await _http.SendAsync(request);
            response.EnsureSuccessStatusCode();
            var token = (await response.Content.ReadFromJsonAsync<JsonObject>())!["csrfToken"]!.GetValue<string>();
            return (token, string.Join("; ", SetCookies(response).Select(static c => $"{c.Key}={c.Value}")));
        }

        private static List<KeyValuePair<string, string>> SetCookies(HttpResponseMessage response) =>
            response.Headers.TryGetValues("Set-Cookie", out var values)
                ? [.. values.Select(static v => v.Split(';')[0]).Select(static p => new KeyValuePair<string, string>(p[..p.IndexOf('=', StringComparison.Ordinal)], p[(p.IndexOf('=', StringComparison.Ordinal) + 1)..]))]
                : [];

        [GeneratedRegex("href=\"([^\"]+)\"")]
        private static partial Regex InboxLink();
    }
}
