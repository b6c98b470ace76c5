using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using SessionCache.Hosting;

namespace SessionCache.Cli.Tests;

/// <summary>
/// What the CLI is tested against: the real Auth.js (<see cref="AuthJsServer"/>) to sign in
/// with and compare to, and a real silo in this process (local JWT mode, Auth.js' secrets) on free
/// loopback ports, which the CLI reaches through its gateway like any client.
/// </summary>
public sealed class CliCluster : IAsyncLifetime
{
    private WebApplication? _silo;

    public AuthJsServer Auth { get; } = new();

    public string ClusterId { get; } = "cli-test-" + Guid.NewGuid().ToString("N");

    public int SiloPort { get; } = FreePort();

    public int GatewayPort { get; private set; }

    public string Gateway => $"127.0.0.1:{GatewayPort}";

    public async Task InitializeAsync()
    {
        await Auth.InitializeAsync();

        GatewayPort = FreePort();
        _silo = await StartSiloAsync(SiloPort, GatewayPort, ClusterId, []);
    }

    /// <summary>A silo in this process in local JWT mode with Auth.js' secrets, on loopback ports; <paramref name="extra"/> over the defaults.</summary>
    public static async Task<WebApplication> StartSiloAsync(int siloPort, int gatewayPort, string clusterId, Dictionary<string, string?> extra)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = ["--urls", "http://127.0.0.1:0"] });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SessionCache:Mode"] = "Local",
            ["AUTH_SECRET"] = AuthJsServer.Secret0,
            ["AUTH_SECRET_1"] = AuthJsServer.Secret1,
            ["AUTH_SECRET_2"] = AuthJsServer.Secret2,
            ["Cluster:SiloPort"] = siloPort.ToString(CultureInfo.InvariantCulture),
            ["Cluster:GatewayPort"] = gatewayPort.ToString(CultureInfo.InvariantCulture),
            ["Cluster:ClusterId"] = clusterId,
            ["Logging:LogLevel:Default"] = "Warning",
        }.Concat(extra));
        builder.AddSessionCacheSilo();
        var silo = builder.Build();
        silo.MapSessionCacheEndpoints();
        await silo.StartAsync();
        return silo;
    }

    public async Task DisposeAsync()
    {
        if (_silo is not null)
        {
            await _silo.StopAsync();
            await _silo.DisposeAsync();
        }

        await Auth.DisposeAsync();
    }

    /// <summary>Runs the CLI in process against this cluster; the environment is empty unless given.</summary>
    public Task<CliRun> RunAsync(params string[] args) =>
        RunCliAsync(["--gateway", Gateway, "--cluster-id", ClusterId, .. args], EmptyEnvironment);

    public static IConfiguration EmptyEnvironment => new ConfigurationBuilder().Build();

    /// <summary>Runs the CLI in process against this cluster, with this environment and standard input.</summary>
    public Task<CliRun> RunAsync(IConfiguration environment, string? stdin, params string[] args) =>
        RunCliAsync(["--gateway", Gateway, "--cluster-id", ClusterId, .. args], environment, stdin);

    /// <summary>Runs the CLI in process with exactly these arguments.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="environment">The environment's configuration; null for the process' real environment variables.</param>
    /// <param name="stdin">What standard input holds; empty unless given.</param>
    public static async Task<CliRun> RunCliAsync(string[] args, IConfiguration? environment, string? stdin = null)
    {
        using var stdout = new StringWriter(CultureInfo.InvariantCulture);
        using var stderr = new StringWriter(CultureInfo.InvariantCulture);
        using var input = new StringReader(stdin ?? string.Empty);
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var clock = Stopwatch.StartNew();
        var exitCode = await CliApplication.RunAsync(args, stdout, stderr, limit.Token, environment, input);
        return new CliRun(exitCode, stdout.ToString(), stderr.ToString(), clock.Elapsed);
    }

    /// <summary>Signs in at the Auth.js JWT app with its CSRF flow; returns the session cookie.</summary>
    public async Task<KeyValuePair<string, string>> SignInAsync(string username) =>
        (await Auth.SignInAsync("jwt/auth", username)).Single(static c => c.Key == "authjs.session-token");

    /// <summary>What Auth.js' own <c>/session</c> endpoint answers for a cookie header.</summary>
    public Task<JsonNode?> AuthJsSessionAsync(string cookieHeader) => Auth.SessionEndpointAsync("jwt/auth", cookieHeader);

    public static string CookieHeader(IEnumerable<KeyValuePair<string, string>> cookies) => AuthJsServer.CookieHeader(cookies);

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
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
