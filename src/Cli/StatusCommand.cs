using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using SessionCache.Contracts;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace SessionCache.Cli;

/// <summary>
/// <c>status</c>: the active silos (from Orleans' management grain) and what the cluster did in the
/// last minute (from the cluster stats grain every silo reports to once a second).
/// </summary>
internal sealed class StatusCommand
{
    // What the stats grain is asked for; rates and ratios below are over these windows.
    private const int WindowSeconds = 60;
    private const int RateSeconds = 10;

    private readonly CliCommands _cli;

    private readonly Option<bool> _json = new("--json")
    {
        Description = "Print a JSON document (camelCase, stable) instead of tables, for scripts.",
    };

    public StatusCommand(CliCommands cli)
    {
        _cli = cli;
        Command = new Command("status", "Shows the active silos, live sessions, lookups per second, hit ratio, upstream calls, sign-outs and latency. Exit 0; 3 when the cluster cannot be reached.")
        {
            _json,
        };
        Command.SetAction(RunAsync);
    }

    public Command Command { get; }

    private async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        await using var connection = await _cli.ConnectAsync(parsed, null, cancellationToken);
        var grains = connection.Services.GetRequiredService<IClusterClient>();
        MembershipEntry[] hosts;
        try
        {
            hosts = await grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true, cancellationToken);
        }
        catch (Exception exception) when (exception is OrleansException or TimeoutException)
        {
            throw new CliFailure(ExitCodes.Unavailable, $"The cluster did not list its silos: {CliFailure.Describe(exception)}.");
        }

        ClusterStats? stats = null;
        try
        {
            stats = await grains.GetGrain<IClusterStatsGrain>(0).GetAsync(WindowSeconds).WaitAsync(cancellationToken);
        }
        catch (Exception exception) when (exception is OrleansException or TimeoutException)
        {
            // The silos are still worth showing (e.g. silos of a version without the stats grain).
            await _cli.Stderr.WriteLineAsync($"The cluster's statistics are unavailable: {CliFailure.Describe(exception)}.");
        }

        var document = StatusDocument.From(hosts, stats);
        if (parsed.GetValue(_json))
        {
            await _cli.Stdout.WriteLineAsync(JsonSerializer.Serialize(document, StatusJsonContext.Default.StatusDocument));
        }
        else
        {
            Render(document);
        }

        await _cli.Stdout.FlushAsync(cancellationToken);
        return ExitCodes.Success;
    }

    private void Render(StatusDocument status)
    {
        // Colours and the terminal's width only on a terminal: a pipe, a file or a test gets plain
        // text, not escape sequences, and is not wrapped at 80 columns.
        var terminal = ReferenceEquals(_cli.Stdout, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(_cli.Stdout),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!terminal)
        {
            console.Profile.Width = 160;
        }

        var silos = new Table().Title("Silos").AddColumns("Address", "Name", "Host", "Status", "Started (UTC)", "Live sessions");
        foreach (var silo in status.Silos)
        {
            silos.AddRow(Cells(silo.Address, silo.Name, silo.HostName, silo.Status, silo.StartTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), Number(silo.LiveSessions)));
        }

        console.Write(silos);

        var traffic = new Table().Title("Traffic").AddColumns("Measure", "Value");
        traffic.AddRow(Cells($"Lookups/s (last {RateSeconds} s)", status.LookupsPerSecond.ToString("0.##", CultureInfo.InvariantCulture)));
        traffic.AddRow(Cells($"Hit ratio (last {WindowSeconds} s)", status.HitRatio is { } ratio ? ratio.ToString("P1", CultureInfo.InvariantCulture) : "-"));
        traffic.AddRow(Cells($"Hits / misses (last {WindowSeconds} s)", $"{status.Hits.ToString(CultureInfo.InvariantCulture)} / {status.Misses.ToString(CultureInfo.InvariantCulture)}"));
        traffic.AddRow(Cells($"Upstream calls / errors (last {WindowSeconds} s)", $"{status.UpstreamCalls.ToString(CultureInfo.InvariantCulture)} / {status.UpstreamErrors.ToString(CultureInfo.InvariantCulture)}"));
        traffic.AddRow(Cells($"Sign-outs (last {WindowSeconds} s)", status.Invalidations.ToString(CultureInfo.InvariantCulture)));
        traffic.AddRow(Cells("Latency p50 / p99", status.Latency is { } latency
            ? $"{Milliseconds(latency.P50Ms)} / {Milliseconds(latency.P99Ms)} (second {DateTimeOffset.FromUnixTimeSeconds(latency.Second).ToString("HH:mm:ss", CultureInfo.InvariantCulture)} UTC)"
            : "- (no lookups)"));
        console.Write(traffic);

        var processes = new Table().Title("Reporting processes (totals since each started)")
            .AddColumns("Process", "Lookups", "Hits", "Misses", "Upstream calls", "Upstream errors", "Sign-outs", "Live sessions");
        foreach (var process in status.Processes)
        {
            processes.AddRow(Cells(process.Process, Number(process.Lookups), Number(process.Hits), Number(process.Misses),
                Number(process.UpstreamCalls), Number(process.UpstreamErrors), Number(process.Invalidations), Number(process.LiveSessions)));
        }

        console.Write(processes);
    }

    // Text, not markup: silo and host names are not ours to trust with square brackets.
    private static IRenderable[] Cells(params string?[] values) => [.. values.Select(static v => new Text(v ?? "-"))];

    private static string Number(long? value) => value?.ToString("N0", CultureInfo.InvariantCulture) ?? "-";

    private static string Milliseconds(double? value) => value is { } ms ? ms.ToString("0.###", CultureInfo.InvariantCulture) + " ms" : "-";
}

/// <summary>The <c>status --json</c> document. Its shape is a contract for scripts: add, never rename.</summary>
/// <param name="Time">When the status was taken.</param>
/// <param name="Silos">The active silos.</param>
/// <param name="LookupsPerSecond">Lookups per second across the cluster over the last 10 complete seconds.</param>
/// <param name="HitRatio">hits / (hits + misses) over the last 60 s; null without either.</param>
/// <param name="Hits">Lookups answered from a cache (near cache or session grain) over the last 60 s.</param>
/// <param name="Misses">Lookups a session grain had to resolve over the last 60 s.</param>
/// <param name="UpstreamCalls">Resolutions sent to Auth.js or the database over the last 60 s.</param>
/// <param name="UpstreamErrors">Of those, the failed ones.</param>
/// <param name="Invalidations">Sign-outs (users and sessions) over the last 60 s.</param>
/// <param name="Latency">Lookup latency percentiles of the last complete second that had lookups.</param>
/// <param name="Processes">The processes reporting to the cluster, with their totals since they started.</param>
/// <param name="StatsAvailable">Whether the cluster's statistics could be read (false: the counts are zero).</param>
internal sealed record StatusDocument(
    DateTimeOffset Time,
    IReadOnlyList<SiloStatus> Silos,
    double LookupsPerSecond,
    double? HitRatio,
    long Hits,
    long Misses,
    long UpstreamCalls,
    long UpstreamErrors,
    long Invalidations,
    LatencyStatus? Latency,
    IReadOnlyList<ProcessStatus> Processes,
    bool StatsAvailable)
{
    public static StatusDocument From(MembershipEntry[] hosts, ClusterStats? stats)
    {
        var live = stats?.Silos.ToDictionary(static s => s.Silo, static s => s.LiveSessions, StringComparer.Ordinal) ?? [];
        var silos = hosts
            .OrderBy(static h => h.SiloAddress.Endpoint.ToString(), StringComparer.Ordinal)
            .Select(h =>
            {
                // The stats grain knows silos by their endpoint (ip:port), without the generation.
                var address = h.SiloAddress.Endpoint.ToString();
                return new SiloStatus(address, h.SiloName, h.HostName, h.Status.ToString(),
                    new DateTimeOffset(DateTime.SpecifyKind(h.StartTime, DateTimeKind.Utc)), live.TryGetValue(address, out var count) ? count : null);
            })
            .ToList();

        var seconds = stats?.Seconds ?? [];
        var recent = seconds.Skip(Math.Max(0, seconds.Length - 10)).ToList();
        var hits = seconds.Sum(static s => s.Hits);
        var misses = seconds.Sum(static s => s.Misses);
        var latest = seconds.LastOrDefault(static s => s.P50Ms is not null);
        var processes = (stats?.Processes ?? [])
            .Select(static p => new ProcessStatus(p.Process, p.Silo, p.LastSecond, p.Lookups, p.Hits, p.Misses, p.UpstreamCalls, p.UpstreamErrors, p.Invalidations, p.LiveSessions))
            .ToList();
        return new StatusDocument(
            TimeProvider.System.GetUtcNow(),
            silos,
            recent.Count == 0 ? 0 : Math.Round(recent.Sum(static s => s.Lookups) / (double)recent.Count, 2),
            hits + misses == 0 ? null : Math.Round(hits / (double)(hits + misses), 4),
            hits,
            misses,
            seconds.Sum(static s => s.UpstreamCalls),
            seconds.Sum(static s => s.UpstreamErrors),
            seconds.Sum(static s => s.Invalidations),
            latest is null ? null : new LatencyStatus(latest.Second, latest.P50Ms, latest.P99Ms),
            processes,
            stats is not null);
    }
}

/// <summary>An active silo.</summary>
/// <param name="Address">Its silo endpoint, ip:port.</param>
/// <param name="Name">Orleans' silo name.</param>
/// <param name="HostName">The machine it runs on.</param>
/// <param name="Status">Its membership status (Active).</param>
/// <param name="StartTime">When it started (UTC).</param>
/// <param name="LiveSessions">Sessions its grains cache now; null when it has not reported.</param>
internal sealed record SiloStatus(string Address, string? Name, string? HostName, string Status, DateTimeOffset StartTime, long? LiveSessions);

/// <summary>Lookup latency of one second across the cluster.</summary>
/// <param name="Second">The second, in Unix seconds.</param>
/// <param name="P50Ms">Median, in milliseconds.</param>
/// <param name="P99Ms">99th percentile, in milliseconds.</param>
internal sealed record LatencyStatus(long Second, double? P50Ms, double? P99Ms);

/// <summary>A reporting process and its totals since it started.</summary>
/// <param name="Process">"silo ip:port" or "client machine/pid".</param>
/// <param name="Silo">The silo endpoint, for silos.</param>
/// <param name="LastSecond">The second of its last report (Unix seconds).</param>
/// <param name="Lookups">Lookups asked of it.</param>
/// <param name="Hits">Answered from a cache.</param>
/// <param name="Misses">Resolved by its grains.</param>
/// <param name="UpstreamCalls">Resolutions sent upstream.</param>
/// <param name="UpstreamErrors">Failed upstream resolutions.</param>
/// <param name="Invalidations">Sign-outs its grains carried out.</param>
/// <param name="LiveSessions">Sessions its grains cache now.</param>
internal sealed record ProcessStatus(string Process, string? Silo, long LastSecond, long Lookups, long Hits, long Misses, long UpstreamCalls, long UpstreamErrors, long Invalidations, long LiveSessions);

/// <summary>Serialization of the status document without reflection, camelCase, indented for people too.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = true)]
[JsonSerializable(typeof(StatusDocument))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
