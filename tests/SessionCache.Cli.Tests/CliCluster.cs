using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Reflection;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using SessionCache.Hosting;

namespace SessionCache.Cli.Tests;

/// <summary>
/// What the CLI is tested against: the real Auth.js (<c>tests/authjs/server.mjs</c>) to sign in
/// with and compare to, and a real silo in this process (local JWT mode, Auth.js' secret) on free
/// loopback ports, which the CLI reaches through its gateway like any client.
/// </summary>
public sealed class CliCluster : IAsyncLifetime
{
    public const string AuthSecret = "cli-test-secret-0123456789abcdef0123456789";
    public const string SignInPassword = "correct horse";

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _authJsErrors = new();
    private Process? _authJs;
    private WebApplication? _silo;

    public HttpClient AuthJs { get; } = new(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });

    public string ClusterId { get; } = "cli-test-" + Guid.NewGuid().ToString("N");

    public int SiloPort { get; } = FreePort();

    public int GatewayPort { get; private set; }

    public string Gateway => $"127.0.0.1:{GatewayPort}";

    public async Task InitializeAsync()
    {
        await StartAuthJsAsync();

        GatewayPort = FreePort();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = ["--urls", "http://127.0.0.1:0"] });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SessionCache:Mode"] = "Local",
            ["AUTH_SECRET"] = AuthSecret,
            ["Cluster:SiloPort"] = SiloPort.ToString(CultureInfo.InvariantCulture),
            ["Cluster:GatewayPort"] = GatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Cluster:ClusterId"] = ClusterId,
            ["Logging:LogLevel:Default"] = "Warning",
        });
        builder.AddSessionCacheSilo();
        _silo = builder.Build();
        _silo.MapSessionCacheEndpoints();
        await _silo.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (_silo is not null)
        {
            await _silo.StopAsync();
            await _silo.DisposeAsync();
        }

        if (_authJs is { HasExited: false })
        {
            _authJs.Kill(entireProcessTree: true);
            await _authJs.WaitForExitAsync();
        }

        _authJs?.Dispose();
        AuthJs.Dispose();
    }

    /// <summary>Runs the CLI in process against this cluster; the environment is empty unless given.</summary>
    public Task<CliRun> RunAsync(params string[] args) =>
        RunCliAsync(["--gateway", Gateway, "--cluster-id", ClusterId, .. args], EmptyEnvironment);

    public static IConfiguration EmptyEnvironment => new ConfigurationBuilder().Build();

    /// <summary>Runs the CLI in process with exactly these arguments.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="environment">The environment's configuration; null for the process' real environment variables.</param>
    public static async Task<CliRun> RunCliAsync(string[] args, IConfiguration? environment)
    {
        using var stdout = new StringWriter(CultureInfo.InvariantCulture);
        using var stderr = new StringWriter(CultureInfo.InvariantCulture);
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var clock = Stopwatch.StartNew();
        var exitCode = await CliApplication.RunAsync(args, stdout, stderr, limit.Token, environment);
        return new CliRun(exitCode, stdout.ToString(), stderr.ToString(), clock.Elapsed);
    }

    /// <summary>Signs in at the Auth.js JWT app with its CSRF flow; returns the session cookie.</summary>
    public async Task<KeyValuePair<string, string>> SignInAsync(string username)
    {
        using var csrfResponse = await AuthJs.GetAsync("jwt/auth/csrf");
        csrfResponse.EnsureSuccessStatusCode();
        var csrfToken = (await csrfResponse.Content.ReadFromJsonAsync<JsonObject>())!["csrfToken"]!.GetValue<string>();
        using var signIn = new HttpRequestMessage(HttpMethod.Post, "jwt/auth/callback/credentials")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["csrfToken"] = csrfToken,
                ["username"] = username,
                ["password"] = SignInPassword,
                ["callbackUrl"] = "/",
            }),
        };
        signIn.Headers.Add("Cookie", CookieHeader(SetCookies(csrfResponse)));
        using var response = await AuthJs.SendAsync(signIn);
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        return SetCookies(response).Single(static c => c.Key == "authjs.session-token" && c.Value.Length > 0);
    }

    /// <summary>What Auth.js' own <c>/session</c> endpoint answers for a cookie header.</summary>
    public async Task<JsonNode?> AuthJsSessionAsync(string cookieHeader)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "jwt/auth/session");
        request.Headers.TryAddWithoutValidation("Cookie", cookieHeader);
        using var response = await AuthJs.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync());
    }

    public static string CookieHeader(IEnumerable<KeyValuePair<string, string>> cookies) =>
        string.Join("; ", cookies.Select(static c => $"{c.Key}={c.Value}"));

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task StartAuthJsAsync()
    {
        var root = typeof(CliCluster).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(static a => a.Key == "RepositoryRoot").Value!;
        var directory = Path.Combine(root, "tests", "authjs");
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
        start.Environment["AUTH_SECRET"] = AuthSecret;
        start.Environment.Remove("AUTH_SECRET_1");
        start.Environment.Remove("AUTH_SECRET_2");
        start.Environment["NODE_ENV"] = "test";
        start.Environment["DATABASE_URL"] = string.Empty;
        _authJs = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        _authJs.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                _authJsErrors.Enqueue(e.Data);
            }
        };
        _authJs.BeginErrorReadLine();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            var line = await _authJs.StandardOutput.ReadLineAsync(timeout.Token)
                ?? throw new InvalidOperationException($"the Auth.js server exited before listening: {string.Join('\n', _authJsErrors)}");
            if (line.StartsWith("LISTENING ", StringComparison.Ordinal))
            {
                AuthJs.BaseAddress = new Uri($"http://127.0.0.1:{line["LISTENING ".Length..]}/");
                return;
            }
        }
    }

    private static List<KeyValuePair<string, string>> SetCookies(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var values)
            ? [.. values.Select(static v => v.Split(';')[0]).Select(static p => new KeyValuePair<string, string>(p[..p.IndexOf('=', StringComparison.Ordinal)], p[(p.IndexOf('=', StringComparison.Ordinal) + 1)..]))]
            : [];
}

/// <summary>One CLI run: its exit code, what it wrote, and how long it took.</summary>
public sealed record CliRun(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalSeconds:0.0} s\nstdout: {Stdout}\nstderr: {Stderr}";
}

[CollectionDefinition(Name)]
public sealed class CliClusterCollection : ICollectionFixture<CliCluster>
{
    // One collection: the tests share the silo, and one of them sets process environment variables.
    public const string Name = "CLI against a real silo and Auth.js";
}
