using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace SessionCache.Client.Internals;

/// <summary>One thing a process must verify before Orleans starts; throws with a message naming the key.</summary>
internal interface IStartupCheck
{
    Task CheckAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Runs at the very first stage of the silo's or client's lifecycle, before it listens, joins or
/// connects: reads every options class (so that all validation failures are reported together),
/// then runs the <see cref="IStartupCheck"/>s. A failure stops the host before the process joins
/// the cluster or accepts a request.
/// </summary>
internal sealed class StartupChecks(IServiceProvider services)
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        _ = services.GetRequiredService<IOptions<SessionCacheClusterOptions>>().Value;
        _ = services.GetRequiredService<IOptions<SessionCacheClientOptions>>().Value;
        foreach (var check in services.GetServices<IStartupCheck>())
        {
            await check.CheckAsync(cancellationToken);
        }
    }
}

/// <summary>Runs <see cref="StartupChecks"/> first thing when an Orleans client starts.</summary>
internal sealed class ClientStartupChecks(StartupChecks checks) : ILifecycleParticipant<IClusterClientLifecycle>
{
    public void Participate(IClusterClientLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(ClientStartupChecks), ServiceLifecycleStage.First, checks.RunAsync);
}

/// <summary>
/// With Redis membership, Redis must answer before the process joins: a silo that cannot reach
/// its membership table cannot join, and a client cannot find a gateway. Waits up to
/// <see cref="SessionCacheClusterOptions.StartupTimeout"/> (Redis starting alongside, as in
/// docker-compose), saying so, then fails.
/// </summary>
internal sealed partial class RedisStartupCheck(IOptions<SessionCacheClusterOptions> options, ILogger<RedisStartupCheck> logger) : IStartupCheck
{
    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        var cluster = options.Value;
        if (cluster.Membership != ClusterMembership.Redis)
        {
            return;
        }

        var redis = RedisConnection.Options(cluster.ConnectionString!);
        var where = string.Join(", ", redis.EndPoints.Select(static e => e.ToString()));
        redis.AbortOnConnectFail = true;
        redis.ConnectTimeout = 3000;
        redis.ConnectRetry = 1;
        var started = TimeProvider.System.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                using var connection = await ConnectionMultiplexer.ConnectAsync(redis);
                await connection.GetDatabase().PingAsync();
                return;
            }
            catch (Exception exception) when (exception is RedisException or TimeoutException)
            {
                if (TimeProvider.System.GetElapsedTime(started) >= cluster.StartupTimeout || cancellationToken.IsCancellationRequested)
                {
                    throw new SessionCacheStartupException(
                        $"Cannot reach Redis at {where} (Cluster:ConnectionString) within {cluster.StartupTimeout.TotalSeconds:0} s: " +
                        $"{FirstLine(exception.Message)} Start Redis, or correct Cluster:ConnectionString; with Cluster:Membership=Redis " +
                        "the cluster's membership and the sign-out records live there.", exception);
                }

                if (attempt == 1)
                {
                    LogWaitingForRedis(logger, where, cluster.StartupTimeout.TotalSeconds);
                }

                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
    }

    // StackExchange.Redis' messages run on with diagnostics; the first sentence says what failed.
    private static string FirstLine(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return (end < 0 ? message : message[..end]).TrimEnd('.') + ".";
    }

    [LoggerMessage(EventId = 3301, Level = LogLevel.Warning, Message = "Waiting for Redis at {Endpoints} (Cluster:ConnectionString), for up to {Seconds} s")]
    private static partial void LogWaitingForRedis(ILogger logger, string endpoints, double seconds);
}
