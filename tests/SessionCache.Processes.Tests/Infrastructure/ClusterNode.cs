using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;

namespace SessionCache.Processes.Tests.Infrastructure;

/// <summary>
/// One cluster process: the standalone silo (src/Silo) or the co-hosting sample web app
/// (samples/WebApp), started with <c>dotnet</c> from its own build output. It keeps its ports
/// across restarts, so that a restarted silo comes back where it was.
/// </summary>
internal sealed class ClusterNode : IAsyncDisposable
{
    private readonly string _assembly;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly ConcurrentQueue<string> _crashes = new();
    private Process? _process;

    public ClusterNode(string name, string project, string assemblyName, IReadOnlyDictionary<string, string> environment)
    {
        Name = name;
        _assembly = Path.Combine(Repository.Root, project, "bin", Repository.Configuration, "net10.0", assemblyName + ".dll");
        var ports = new Dictionary<string, string>(environment)
        {
            ["Cluster__SiloPort"] = Ports.Free().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Cluster__GatewayPort"] = Ports.Free().ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        _environment = ports;
        HttpAddress = new Uri($"http://127.0.0.1:{Ports.Free()}/");
        Http = new HttpClient(new SocketsHttpHandler { UseCookies = false, PooledConnectionLifetime = TimeSpan.FromSeconds(5) })
        {
            BaseAddress = HttpAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    private readonly ConcurrentQueue<string> _leaked = new();
    private long _lines;
    private long _jsonRecords;

    public string Name { get; }

    /// <summary>The environment the process runs with, its ports included.</summary>
    public IReadOnlyDictionary<string, string> Environment => _environment;

    /// <summary>The port other silos reach this one at: how Orleans' statistics name it.</summary>
    public int SiloPort => int.Parse(_environment["Cluster__SiloPort"], System.Globalization.CultureInfo.InvariantCulture);

    public Uri HttpAddress { get; }

    public HttpClient Http { get; }

    public int ProcessId => _process?.Id ?? 0;

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The output lines that reported an unhandled exception, over every run, oldest first.</summary>
    public IReadOnlyCollection<string> UnhandledExceptions => _crashes;

    public string Tail => string.Join('\n', _tail.TakeLast(200));

    /// <summary>The last 2,000 lines this process printed.</summary>
    public IEnumerable<string> RecentLines => _tail;

    public void Start()
    {
        if (!File.Exists(_assembly))
        {
            throw new InvalidOperationException($"{_assembly} is missing: build the solution first (scripts/test.sh does).");
        }

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(_assembly);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(HttpAddress.ToString().TrimEnd('/'));
        foreach (var (key, value) in _environment)
        {
            start.Environment[key] = value;
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"{Name} did not start");
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Healthy means an active member of the cluster (the /health check).</summary>
    public async Task WaitHealthyAsync(int timeoutSeconds = 90)
    {
        await Eventually.TrueAsync(
            async () =>
            {
                if (_process is not { HasExited: false })
                {
                    Assert.Fail($"{Name} exited with {_process?.ExitCode}:\n{Tail}");
                }

                try
                {
                    using var response = await Http.GetAsync("health");
                    return response.StatusCode == HttpStatusCode.OK;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            $"{Name} to become an active cluster member",
            timeoutSeconds);
    }

    /// <summary>SIGKILL: no shutdown, no goodbye to the cluster.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }
    }

    /// <summary>SIGTERM, as docker stop and Kubernetes send: the process should leave the cluster cleanly.</summary>
    public void Terminate() => Signals.Terminate(ProcessId);

    /// <summary>The exit code once the process has exited, waiting at most <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        await _process!.WaitForExitAsync(deadline.Token);
        return _process.ExitCode;
    }

    /// <summary>Output lines that contained a registered sensitive value (<see cref="SensitiveValues"/>).</summary>
    public IReadOnlyCollection<string> LeakedLines => _leaked;

    /// <summary>Output lines so far, and how many of them were JSON log records.</summary>
    public (long Lines, long JsonRecords) LineCounts => (Interlocked.Read(ref _lines), Interlocked.Read(ref _jsonRecords));

    public void Pause() => Signals.Pause(ProcessId);

    public void Resume() => Signals.Resume(ProcessId);

    /// <summary>GET /api/auth/session with the cookie: the session JSON, "null", or the failure.</summary>
    public async Task<FrontAnswer> SessionAsync(string cookieHeader, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/auth/session");
        request.Headers.Add("Cookie", cookieHeader);
        try
        {
            using var response = await Http.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return response.StatusCode == HttpStatusCode.OK
                ? (body.Trim() == "null" ? FrontAnswer.NoSession : FrontAnswer.Session(body))
                : FrontAnswer.Failed($"{(int)response.StatusCode}");
        }
        catch (HttpRequestException exception)
        {
            return FrontAnswer.Down(exception.HttpRequestError.ToString());
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return FrontAnswer.Failed("timeout");
        }
    }

    /// <summary>POST /api/sessions/invalidate with the API key.</summary>
    public async Task<HttpResponseMessage> InvalidateAsync(object body, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/sessions/invalidate") { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ProcessCluster.ApiKey);
        return await Http.SendAsync(request, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        _process?.Dispose();
        Http.Dispose();
        await Task.CompletedTask;
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (line.Contains("Unhandled exception", StringComparison.OrdinalIgnoreCase))
        {
            // Logs are one JSON record per line, so the line carries the exception and its stack.
            _crashes.Enqueue($"{Name}: {(line.Length > 4_000 ? line[..4_000] + "..." : line)}");
        }

        Interlocked.Increment(ref _lines);
        if (line.StartsWith("{\"EventId\":", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _jsonRecords);
        }

        if (SensitiveValues.FoundIn(line) is { } leaked && _leaked.Count < 200)
        {
            _leaked.Enqueue($"{Name}: [{leaked}] {line}");
        }

        _tail.Enqueue(line);
        while (_tail.Count > 2_000)
        {
            _tail.TryDequeue(out _);
        }
    }
}

/// <summary>What an HTTP front answered.</summary>
internal readonly record struct FrontAnswer(FrontOutcome Outcome, string? Body)
{
    public static FrontAnswer NoSession => new(FrontOutcome.NoSession, null);

    public static FrontAnswer Session(string body) => new(FrontOutcome.Session, body);

    public static FrontAnswer Failed(string why) => new(FrontOutcome.Failed, why);

    public static FrontAnswer Down(string why) => new(FrontOutcome.Down, why);
}

internal enum FrontOutcome
{
    Session,
    NoSession,

    /// <summary>The process answered with an error (503: upstream or cluster unavailable).</summary>
    Failed,

    /// <summary>The process did not answer at all (killed, paused).</summary>
    Down,
}
