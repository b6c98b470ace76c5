using System.Net;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;
using SessionCache.AuthJs;

namespace SessionCache.Silo;

/// <summary>
/// Turns an ASP.NET Core application into a session cache silo: the standalone silo uses these,
/// and so does any web app that co-hosts one.
/// </summary>
public static class SiloHostingExtensions
{
    /// <summary>
    /// Adds the Orleans silo (configured from the <c>Cluster</c> section), the dashboard, Auth.js
    /// session resolution (the <c>SessionCache</c> section) and health checks.
    /// </summary>
    /// <param name="builder">The web application builder.</param>
    /// <returns>The builder.</returns>
    public static WebApplicationBuilder AddSessionCacheSilo(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        builder.Services.AddOptions<SessionCacheClusterOptions>()
            .Bind(configuration.GetSection(SessionCacheClusterOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<SessionCacheClusterOptions>, SessionCacheClusterOptionsValidator>();
        builder.Services.AddAuthJsSessionResolution(configuration);

        var cluster = configuration.GetSection(SessionCacheClusterOptions.SectionName).Get<SessionCacheClusterOptions>() ?? new();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
            silo.Configure<EndpointOptions>(endpoints => endpoints.AdvertisedIPAddress = IPAddress.Loopback);
            silo.AddMemoryGrainStorageAsDefault();
            silo.AddDashboard();
        });

        builder.Services.AddHealthChecks().AddCheck<SiloMembershipHealthCheck>("orleans-membership");
        return builder;
    }

    /// <summary>Maps <c>/health</c> and the dashboard at <c>/dashboard</c>.</summary>
    /// <param name="app">The application.</param>
    /// <returns>The application.</returns>
    public static WebApplication MapSessionCacheEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseWhen(static context => context.Request.Path.StartsWithSegments("/dashboard"), static branch => branch.UseMiddleware<DashboardAccessMiddleware>());
        app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = HealthResponse.WriteAsync });
        app.MapOrleansDashboard(routePrefix: "/dashboard");
        return app;
    }
}
