using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using SessionCache.AuthJs.Internals;

namespace SessionCache.Client.Internals;

/// <summary>
/// Exports the session cache's metrics, Orleans' and ASP.NET Core's through OTLP when the standard
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set; the OpenTelemetry SDK reads the other <c>OTEL_*</c>
/// variables itself (protocol, headers, <c>OTEL_METRIC_EXPORT_INTERVAL</c>,
/// <c>OTEL_SERVICE_NAME</c>). Without it nothing is exported and nothing costs: the meters stay
/// readable by <c>dotnet-counters</c>.
/// </summary>
internal static class SessionCacheTelemetry
{
    /// <summary>The standard variable that turns OTLP export on.</summary>
    public const string EndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    private static readonly string[] Meters =
    [
        SessionCacheMetrics.MeterName,
        "Microsoft.Orleans",
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "System.Net.Http",
        "System.Runtime",
    ];

    public static void AddOtlpWhenConfigured(IHostApplicationBuilder builder, string defaultServiceName)
    {
        if (string.IsNullOrWhiteSpace(builder.Configuration[EndpointKey]))
        {
            return;
        }

        builder.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Configuration["OTEL_SERVICE_NAME"] ?? defaultServiceName))
            .WithMetrics(metrics => metrics.AddMeter(Meters).AddOtlpExporter());
    }
}
