using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using SessionCache.AuthJs;
using SessionCache.Client;

namespace SessionCache.Silo.Tests;

/// <summary>
/// OTLP export of the session cache's metrics, switched on by the standard
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> setting and tuned by the other standard <c>OTEL_*</c> ones,
/// received here by a minimal OTLP/HTTP collector on loopback.
/// </summary>
[Collection(InProcessSilos.Name)]
public sealed class TelemetryTests
{
    private const string Secret = "telemetry-test-secret-0123456789abcdef";

    [Fact]
    public async Task WithAnOtlpEndpointTheSiloExportsTheSessionCacheMetricsAtTheConfiguredInterval()
    {
        await using var collector = await OtlpCollector.StartAsync();
        await using var app = await StartSiloAsync(new()
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Endpoint.ToString(),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
            ["OTEL_SERVICE_NAME"] = "telemetry-test-silo",
        });
        Assert.NotNull(app.Services.GetService<MeterProvider>());

        // Lookups of garbage still count, and take time: the counter and the histogram both have points.
        var sessions = app.Services.GetRequiredService<ISessionCache>();
        for (var i = 0; i < 5; i++)
        {
            var result = await sessions.LookupAsync(SessionRequest.FromCookieHeader($"authjs.session-token=garbage-{i}"));
            Assert.Equal(SessionLookupStatus.Invalid, result.Status);
        }

        var body = await collector.WaitForAsync(
            static b => Contains(b, "sessioncache.lookups") && Contains(b, "sessioncache.lookup.duration"),
            "an export with sessioncache.lookups and sessioncache.lookup.duration");
        Assert.True(Contains(body, "telemetry-test-silo"), "the export does not carry OTEL_SERVICE_NAME as service.name");
        Assert.True(Contains(body, "sessioncache.hits"), "the export lacks sessioncache.hits");

        // Every 500 ms, not OpenTelemetry's default minute: more exports follow within seconds.
        var exports = collector.Count;
        await collector.WaitForCountAsync(exports + 3, TimeSpan.FromSeconds(10));
        Assert.Equal("application/x-protobuf", collector.ContentTypes.Distinct().Single());
    }

    [Fact]
    public async Task WithoutAnOtlpEndpointNoMeterProviderIsRegistered()
    {
        await using var app = await StartSiloAsync(new() { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = string.Empty });

        Assert.Null(app.Services.GetService<MeterProvider>());

        // The meter counts all the same, for dotnet-counters.
        var sessions = app.Services.GetRequiredService<ISessionCache>();
        Assert.Equal(SessionLookupStatus.Invalid, (await sessions.LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=garbage"))).Status);
        Assert.Equal(1, ReadLookups(app.Services.GetRequiredService<IMeterFactory>()));
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData("", false)]
    [InlineData("http://127.0.0.1:4318", true)]
    public void AClientRegistersAMeterProviderOnlyWithAnOtlpEndpoint(string? endpoint, bool registered)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint });
        builder.AddSessionCacheClient();
        using var host = builder.Build();

        Assert.Equal(registered, host.Services.GetService<MeterProvider>() is not null);
    }

    /// <summary>This host's <c>sessioncache.lookups</c>, read as dotnet-counters would (its meter's scope is the host's factory).</summary>
    private static long ReadLookups(IMeterFactory factory)
    {
        long? lookups = null;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "SessionCache" && ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Name == "sessioncache.lookups")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => lookups = value);
        listener.Start();
        listener.RecordObservableInstruments();
        return lookups ?? throw new InvalidOperationException("sessioncache.lookups was not published by this host");
    }

    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    private static Task<WebApplication> StartSiloAsync(Dictionary<string, string?> settings)
    {
        settings["AUTH_SECRET"] = Secret;
        settings["SessionCache:Mode"] = "Local";
        return TestSilo.StartInProcessAsync(settings);
    }

    /// <summary>The OTLP/HTTP metrics endpoint of a collector: keeps every body posted to <c>/v1/metrics</c>.</summary>
    private sealed class OtlpCollector : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<byte[]> _bodies = new();
        private readonly ConcurrentQueue<string> _contentTypes = new();

        private OtlpCollector(WebApplication app) => _app = app;

        /// <summary>The base address, as <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> takes it (the SDK appends <c>/v1/metrics</c>).</summary>
        public Uri Endpoint => new(_app.Urls.First());

        public int Count => _bodies.Count;

        public IEnumerable<string> ContentTypes => _contentTypes;

        public static async Task<OtlpCollector> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var collector = new OtlpCollector(app);
            app.MapPost("/v1/metrics", async (HttpRequest request) =>
            {
                using var body = new MemoryStream();
                await request.Body.CopyToAsync(body);
                collector._contentTypes.Enqueue(request.ContentType ?? string.Empty);
                collector._bodies.Enqueue(body.ToArray());

                // An empty ExportMetricsServiceResponse: everything accepted.
                return Results.Bytes([], "application/x-protobuf");
            });
            await app.StartAsync();
            return collector;
        }

        public async Task<byte[]> WaitForAsync(Func<byte[], bool> match, string what, int timeoutSeconds = 30)
        {
            byte[]? found = null;
            await Eventually.TrueAsync(() => (found = _bodies.FirstOrDefault(match)) is not null, what, timeoutSeconds);
            return found!;
        }

        public Task WaitForCountAsync(int count, TimeSpan within) =>
            Eventually.TrueAsync(() => _bodies.Count >= count, $"{count} exports", (int)within.TotalSeconds);

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
