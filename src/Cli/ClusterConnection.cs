using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.Client;

namespace SessionCache.Cli;

/// <summary>
/// An Orleans client connected to the cluster for one command, built by <c>AddSessionCacheClient</c>
/// exactly as any service builds one. Connecting is bounded by <c>--timeout</c>: Orleans alone
/// gives up on the first failed attempt when no gateway answers (or, with a retry filter, would
/// retry forever), so a filter retries every second and the start is cancelled at the deadline.
/// </summary>
internal sealed class ClusterConnection : IAsyncDisposable
{
    // Past this, a start that has not connected says what it is waiting for.
    private static readonly TimeSpan QuietWait = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    // A client that cannot say goodbye to a gateway (gone meanwhile) must not hold the shell.
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private readonly IHost _host;

    private ClusterConnection(IHost host)
    {
        _host = host;
    }

    public IServiceProvider Services => _host.Services;

    /// <summary>Builds the client from <paramref name="configuration"/> and connects it.</summary>
    /// <exception cref="CliFailure">Invalid configuration (2), or no gateway answered in time (3).</exception>
    public static async Task<ClusterConnection> ConnectAsync(Dictionary<string, string?> configuration, TimeSpan timeout, TextWriter stderr, CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            // Defaults would read appsettings.json from the current directory and log to stdout.
            DisableDefaults = true,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddInMemoryCollection(configuration);
        var cluster = ClusterSettings.Validate(builder.Configuration);
        var target = ClusterSettings.Describe(cluster);

        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // A failed start is reported once, by this class, with what it waited for.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddProvider(new TextWriterLoggerProvider(stderr));

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var retry = new RetryUntilCancelled(deadline.Token);
        try
        {
            builder.AddSessionCacheClient(client => client.UseConnectionRetryFilter(retry));
        }
        catch (Exception exception) when (exception is OptionsValidationException or InvalidOperationException)
        {
            // Anything the checks above did not catch, from the client library's own checks.
            throw new CliFailure(ExitCodes.Usage, "Invalid configuration: " + exception.Message);
        }

        var host = builder.Build();
        var connection = new ClusterConnection(host);
        try
        {
            deadline.CancelAfter(timeout);
            var start = host.StartAsync(deadline.Token);
            if (await Task.WhenAny(start, Task.Delay(QuietWait, cancellationToken)) != start)
            {
                await stderr.WriteLineAsync($"Waiting for the cluster: {target.Waiting} ...");
            }

            // Bounded even if a start step ignored the token.
            await start.WaitAsync(deadline.Token);
            return connection;
        }
        catch (Exception exception) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            await connection.DisposeAsync();
            var seconds = timeout.TotalSeconds.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
            var cause = retry.LastError ?? (exception is OperationCanceledException ? null : exception);
            var detail = cause is null ? string.Empty : $"{Environment.NewLine}Last error: {CliFailure.Describe(cause)}";
            throw new CliFailure(ExitCodes.Unavailable, $"No gateway answered within {seconds} s at {target.At}; {target.Hint}{await TlsHintAsync(cluster)} (see docs/cli.md){detail}");
        }
        catch (Exception exception) when (Find<OptionsValidationException>(exception) is { Count: > 0 } invalid)
        {
            // Options read while the client starts (the validators ran above; this is a backstop).
            await connection.DisposeAsync();
            throw new CliFailure(ExitCodes.Usage, "Invalid configuration: " + string.Join(" ", invalid.Select(static e => e.Message)));
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            await connection.DisposeAsync();
            var cause = Unwrap(exception);
            throw new CliFailure(ExitCodes.Unavailable, $"Could not connect to the cluster at {target.At}: {CliFailure.Describe(cause)}");
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A TLS handshake the gateway refuses looks, from here, like a gateway that accepts the
    /// connection and closes it; Orleans reports both that and a closed port as the same
    /// failure. So look: when something accepts a TCP connection at the (first) gateway, say what
    /// to check about TLS; when nothing does, TLS has nothing to do with it.
    /// </summary>
    private static async Task<string> TlsHintAsync(SessionCacheClusterOptions cluster)
    {
        if (cluster.Membership == ClusterMembership.Redis && cluster.Gateways.Count == 0)
        {
            return string.Empty;
        }

        try
        {
            var gateways = cluster.ResolveGateways();
            var gateway = gateways.Count > 0 ? gateways[0] : new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, cluster.GatewayPort);
            using var probe = new System.Net.Sockets.Socket(gateway.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await probe.ConnectAsync(gateway, limit.Token);
            return TlsAdvice(cluster.Tls);
        }
        catch (Exception exception) when (exception is System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return string.Empty;
        }
    }

    private static string TlsAdvice(SessionCacheTlsOptions tls)
    {
        if (!tls.Enabled)
        {
            return " If the silos use TLS (Cluster:Tls:Enabled), so must this client: set Cluster__Tls__Enabled, Cluster__Tls__CaCertificates and a client certificate (Cluster__Tls__Certificate, Cluster__Tls__PrivateKey).";
        }

        return string.IsNullOrWhiteSpace(tls.Certificate)
            ? " TLS is on without a client certificate (Cluster:Tls:Certificate): the silos refuse clients without one unless they set Cluster:Tls:RequireClientCertificate=false. Set Cluster__Tls__Certificate and Cluster__Tls__PrivateKey to a certificate their CA issued."
            : " TLS is on: if the silos refused the handshake, their log says why (\"TLS peer ... refused\"); Cluster:Tls:Certificate must be issued by a CA the silos trust, and be unexpired.";
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(StopTimeout);
        try
        {
            await _host.StopAsync(stop.Token);
        }
        catch (Exception exception) when (exception is OperationCanceledException or OrleansException or AggregateException or ObjectDisposedException)
        {
            // Leaving anyway: the gateway drops a vanished client on its own.
        }

        if (_host is IAsyncDisposable asyncDisposable)
        {
            await asyncDisposable.DisposeAsync();
        }
        else
        {
            _host.Dispose();
        }
    }

    /// <summary>Every <typeparamref name="T"/> in an exception's causes, through aggregates.</summary>
    private static List<T> Find<T>(Exception exception)
        where T : Exception
    {
        var found = new List<T>();
        var pending = new Stack<Exception>([exception]);
        while (pending.TryPop(out var current))
        {
            if (current is T match)
            {
                found.Add(match);
            }
            else if (current is AggregateException aggregate)
            {
                aggregate.InnerExceptions.ToList().ForEach(pending.Push);
            }
            else if (current.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }

        return found;
    }

    /// <summary>The exception that says what failed: past aggregates and lifecycle wrappers of one cause.</summary>
    private static Exception Unwrap(Exception exception)
    {
        while (exception is AggregateException { InnerExceptions.Count: 1 } or OrleansLifecycleCanceledException { InnerException: not null })
        {
            exception = exception is AggregateException aggregate ? aggregate.InnerExceptions[0] : exception.InnerException!;
        }

        return exception;
    }

    /// <summary>Retries the first connection every second until the deadline, keeping the last error for the message.</summary>
    private sealed class RetryUntilCancelled(CancellationToken deadline) : IClientConnectionRetryFilter
    {
        private Exception? _lastError;

        public Exception? LastError => Volatile.Read(ref _lastError);

        public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
        {
            Volatile.Write(ref _lastError, exception);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline);
            try
            {
                await Task.Delay(RetryDelay, linked.Token);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            return true;
        }
    }
}
