using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Net;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Xunit.Abstractions;

namespace SessionCache.Silo.Tests;

/// <summary>
/// The standalone silo's <c>SessionCache</c> meter read from outside the process the way
/// <c>dotnet-counters monitor --counters SessionCache</c> reads it: an EventPipe session on the
/// <c>System.Diagnostics.Metrics</c> provider, with the same arguments, parsed with TraceEvent.
/// </summary>
public sealed class DotnetCountersTests(ITestOutputHelper output)
{
    private const string Secret = "counters-test-secret-0123456789abcdef";
    private const string MetricsProvider = "System.Diagnostics.Metrics";

    // MetricsEventSource's keywords: Messages (errors it reports) and TimeSeriesValues.
    private const long Keywords = 0x1 | 0x2;

    [Fact]
    public async Task AnEventPipeSessionLikeDotnetCountersReadsTheSilosLookupsAndLatency()
    {
        var port = TestSilo.FreePort();
        using var silo = TestSilo.StartProcess(port, new Dictionary<string, string>
        {
            ["DOTNET_EnableDiagnostics"] = "1",
            ["SessionCache__Mode"] = "Local",
            ["AUTH_SECRET"] = Secret,
        });
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        await silo.WaitReadyAsync(http);

        // Lookups before the session starts: an observable counter's value is its total since start.
        const int before = 5;
        await LookUpAsync(http, before);

        var sessionId = Guid.NewGuid().ToString();
        var provider = new EventPipeProvider(MetricsProvider, EventLevel.Informational, Keywords, new Dictionary<string, string>
        {
            ["SessionId"] = sessionId,
            ["Metrics"] = "SessionCache",
            ["RefreshInterval"] = "1",
            ["MaxTimeSeries"] = "1000",
            ["MaxHistograms"] = "10",
        });
        var client = new DiagnosticsClient(silo.Process.Id);
        using var session = client.StartEventPipeSession([provider], requestRundown: false);
        var events = new ConcurrentQueue<MetricEvent>();
        var errors = new ConcurrentQueue<string>();
        var parsing = Task.Run(() =>
        {
            using var source = new EventPipeEventSource(session.EventStream);
            source.Dynamic.All += e =>
            {
                if (e.ProviderName != MetricsProvider || Payload(e, "sessionId") != sessionId)
                {
                    return;
                }

                if (e.EventName is "Error" or "MultipleSessionsNotSupportedError" or "ObservableInstrumentCallbackError")
                {
                    errors.Enqueue($"{e.EventName}: {Payload(e, "errorMessage")}");
                    return;
                }

                events.Enqueue(new MetricEvent(e.EventName, Payload(e, "meterName"), Payload(e, "instrumentName"), Payload(e, "tags"),
                    Payload(e, "rate"), Payload(e, "value"), Payload(e, "count")));
            };
            source.Process();
        });

        try
        {
            // Lookups while the session runs, so that the rate and the histogram have something.
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (!Seen(events, out _))
            {
                Assert.False(deadline.IsCancellationRequested, $"No sessioncache.lookups value within 60 s. Errors: {string.Join("; ", errors)}. Events: {string.Join("; ", events.Take(20))}");
                Assert.False(silo.Process.HasExited, "the silo exited");
                await LookUpAsync(http, 3);
                await Task.Delay(200, deadline.Token);
            }
        }
        finally
        {
            await session.StopAsync(CancellationToken.None);
            await parsing.WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.True(Seen(events, out var lookups));
        foreach (var e in events.Where(static e => e.Instrument is not null).GroupBy(static e => (e.Instrument, e.Tags)).Select(static g => g.Last()))
        {
            output.WriteLine(e.ToString());
        }

        Assert.Equal("SessionCache", lookups.Meter);
        Assert.True(double.Parse(lookups.Value!, CultureInfo.InvariantCulture) >= before, $"sessioncache.lookups was {lookups.Value}");
        Assert.Contains(events, static e => e.Instrument == "sessioncache.misses" && e.Name == "CounterRateValuePublished"
            && double.TryParse(e.Value, CultureInfo.InvariantCulture, out var misses) && misses >= before);
        Assert.Contains(events, static e => e.Instrument == "sessioncache.lookup.duration" && e.Name == "HistogramValuePublished"
            && long.Parse(e.Count!, CultureInfo.InvariantCulture) > 0);
        Assert.Contains(events, static e => e.Instrument == "sessioncache.hits" && e.Tags == "sessioncache.cache=near");
        Assert.Contains(events, static e => e.Instrument == "sessioncache.sessions.live");
        Assert.Empty(errors);
    }

    private static bool Seen(IEnumerable<MetricEvent> events, out MetricEvent lookups)
    {
        lookups = events.LastOrDefault(static e => e.Name == "CounterRateValuePublished" && e.Instrument == "sessioncache.lookups"
            && double.TryParse(e.Value, CultureInfo.InvariantCulture, out var value) && value > 0)!;
        return lookups is not null;
    }

    private static string? Payload(TraceEvent e, string name) =>
        e.PayloadIndex(name) >= 0 ? Convert.ToString(e.PayloadByName(name), CultureInfo.InvariantCulture) : null;

    /// <summary>Asks for the session with a cookie that is not one: a lookup all the same.</summary>
    private static async Task LookUpAsync(HttpClient http, int count)
    {
        for (var i = 0; i < count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "api/auth/session");
            request.Headers.Add("Cookie", $"authjs.session-token=not-a-session-{Guid.NewGuid():N}");
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("null", await response.Content.ReadAsStringAsync());
        }
    }

    private sealed record MetricEvent(string Name, string? Meter, string? Instrument, string? Tags, string? Rate, string? Value, string? Count);
}
