using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SessionCache.AuthJs.Internals;
using SessionCache.Contracts;

namespace SessionCache.Client.Internals;

/// <summary>Who this process is on the dashboard: a silo (by its silo endpoint) or a client.</summary>
internal sealed class MetricsProcessIdentity(Func<string> process, Func<string?> silo)
{
    /// <summary>A client process: machine name and process id.</summary>
    public static MetricsProcessIdentity Client { get; } =
        new(static () => $"client {Environment.MachineName}/{Environment.ProcessId}", static () => null);

    public string Process => process();

    public string? Silo => silo();
}

/// <summary>
/// Sends this process' totals to the cluster's stats grain just after every whole second, so that
/// every process' counts for one second arrive together and the dashboard's per-second series stay
/// even. Best effort: a report that fails (the cluster is starting, or the stats grain is moving)
/// is simply followed by the next one, which carries totals, so nothing is lost but a point.
/// </summary>
internal sealed partial class MetricsReporter(
    IGrainFactory grains,
    SessionCacheMetrics metrics,
    MetricsProcessIdentity identity,
    ILogger<MetricsReporter> logger) : BackgroundService
{
    // Wall-clock, not the session clock: reports are labelled with real seconds even where tests
    // drive session expiry with a fake clock.
    private static readonly TimeProvider Clock = TimeProvider.System;

    // Tells the stats grain that totals restarted from zero, even on the same address.
    private readonly Guid _instance = Guid.NewGuid();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = Clock.GetUtcNow().ToUnixTimeMilliseconds();
            var second = (now / 1000) + 1;
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds((second * 1000) + 50 - now), Clock, stoppingToken);
                var totals = metrics.Totals();
                await grains.GetGrain<IClusterStatsGrain>(0).ReportAsync(new ProcessReport(
                    identity.Process, identity.Silo, second,
                    totals.Lookups, totals.NearHits, totals.GrainHits, totals.Misses,
                    totals.UpstreamCalls, totals.UpstreamErrors, totals.UserInvalidations, totals.SessionInvalidations,
                    totals.LiveSessions, totals.LatencyBuckets, _instance));
                failures = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception)
            {
                // Expected while the process joins or the cluster is down; say so once per outage.
                if (failures++ == 0)
                {
                    LogReportFailed(logger, exception.GetType().Name);
                }
            }
        }
    }

    [LoggerMessage(EventId = 3201, Level = LogLevel.Debug, Message = "Could not report metrics to the cluster ({Exception}); retrying every second")]
    private static partial void LogReportFailed(ILogger logger, string exception);
}
