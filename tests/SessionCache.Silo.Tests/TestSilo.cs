using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SessionCache.Hosting;

namespace SessionCache.Silo.Tests;

/// <summary>
/// The standalone silo as these tests start it: in this process, as a co-hosting app does, or as
/// the process an operator runs (<c>dotnet SessionCache.Silo.dll</c>), each on free loopback
/// ports and in a cluster of its own.
/// </summary>
internal static class TestSilo
{
    /// <summary>
    /// Starts a silo in this process with <paramref name="settings"/>, on free ports unless they name
    /// some; <paramref name="configure"/> runs after <c>AddSessionCacheSilo</c>, as an app's own code would.
    /// </summary>
    public static async Task<WebApplication> StartInProcessAsync(Dictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null)
    {
        settings.TryAdd("Cluster:SiloPort", FreePort().ToString(CultureInfo.InvariantCulture));
        settings.TryAdd("Cluster:GatewayPort", FreePort().ToString(CultureInfo.InvariantCulture));
        settings["Cluster:ClusterId"] = "test-" + Guid.NewGuid().ToString("N");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = ["--urls", "http://127.0.0.1:0"] });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddSessionCacheSilo();
        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapSessionCacheEndpoints();
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return app;
    }

    /// <summary>Where an in-process silo's HTTP endpoints listen.</summary>
    public static Uri Address(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");

    /// <summary>
    /// <c>dotnet SessionCache.Silo.dll --urls http://127.0.0.1:&lt;httpPort&gt;</c> with exactly these
    /// settings as environment variables: none of the test runner's own session cache, cluster,
    /// Auth.js or OpenTelemetry variables leak in.
    /// </summary>
    public static ProcessStartInfo ProcessStartInfo(int httpPort, IEnumerable<KeyValuePair<string, string>> environment)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "SessionCache.Silo.dll"));
        start.ArgumentList.Add($"--urls=http://127.0.0.1:{httpPort}");
        foreach (var key in start.Environment.Keys.Where(static k => k.StartsWith("SessionCache__", StringComparison.Ordinal)
            || k.StartsWith("Cluster__", StringComparison.Ordinal) || k.StartsWith("AUTH_SECRET", StringComparison.Ordinal)
            || k.StartsWith("OTEL_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(key);
        }

        start.Environment["Cluster__SiloPort"] = FreePort().ToString(CultureInfo.InvariantCulture);
        start.Environment["Cluster__GatewayPort"] = FreePort().ToString(CultureInfo.InvariantCulture);
        start.Environment["Cluster__ClusterId"] = "test-" + Guid.NewGuid().ToString("N");
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return start;
    }

    /// <summary>Starts the silo process, draining its output; disposing it kills the process.</summary>
    public static RunningSilo StartProcess(int httpPort, IEnumerable<KeyValuePair<string, string>> environment)
    {
        var process = Process.Start(ProcessStartInfo(httpPort, environment))!;
        process.OutputDataReceived += static (_, _) => { };
        process.ErrorDataReceived += static (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new RunningSilo(process);
    }

    /// <summary>A loopback port nothing listens on (it was free a moment ago).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>A silo process that is killed when the test ends, however it ends.</summary>
internal sealed class RunningSilo(Process process) : IDisposable
{
    public Process Process { get; } = process;

    public bool HasExited => Process.HasExited;

    /// <summary>Polls <c>/health/ready</c> until the silo is an active member; its answer.</summary>
    public async Task<string> WaitReadyAsync(HttpClient http)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        while (true)
        {
            Assert.False(Process.HasExited, "the silo exited while starting");
            try
            {
                using var response = await http.GetAsync(new Uri("health/ready", UriKind.Relative), timeout.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return await response.Content.ReadAsStringAsync(timeout.Token);
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200, timeout.Token);
        }
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
            Process.WaitForExit();
        }

        Process.Dispose();
    }
}

/// <summary>
/// Tests that host silos in this process run one at a time: OpenTelemetry listens to every meter
/// named <c>SessionCache</c> in the process and keeps the first of two same-named instruments, so a
/// telemetry test could export another host's instruments instead of its own.
/// </summary>
[CollectionDefinition(Name)]
public sealed class InProcessSilos
{
    public const string Name = "Silos in this process";
}
