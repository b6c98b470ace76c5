using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;
using SessionCache.AspNetCore;
using SessionCache.AuthJs;
using SessionCache.Client;

namespace SessionCache.Hosting;

/// <summary>
/// Turns an ASP.NET Core application into a session cache silo: the standalone silo uses these,
/// and so does any web app that co-hosts one, in two lines.
/// </summary>
public static class SiloHostingExtensions
{
    /// <summary>
    /// Adds the Orleans silo (configured from the <c>Cluster</c> section), the session grains,
    /// Auth.js session resolution (the <c>SessionCache</c> section), <see cref="ISessionCache"/>
    /// (also registered as <see cref="ISessionResolver"/>, so <c>GetServerSessionAsync</c> goes
    /// through the cache), the dashboard and health checks.
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

        var cluster = configuration.GetSection(SessionCacheClusterOptions.SectionName).Get<SessionCacheClusterOptions>() ?? new();
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
            silo.Configure<EndpointOptions>(endpoints => endpoints.AdvertisedIPAddress = IPAddress.Loopback);
            silo.AddMemoryGrainStorageAsDefault();
            silo.AddDashboard();
            silo.AddSessionCache(configuration);
        });

        builder.Services.AddHealthChecks().AddCheck<SiloMembershipHealthCheck>("orleans-membership");
        return builder;
    }

    /// <summary>
    /// Adds the session grains and the session API to a silo configured by other means (your own
    /// clustering and storage). Grain storage named <c>Default</c> must exist.
    /// </summary>
    /// <param name="silo">The silo builder.</param>
    /// <param name="configuration">The configuration root: the <c>SessionCache</c> section and Auth.js' variables.</param>
    /// <returns>The silo builder.</returns>
    public static ISiloBuilder AddSessionCache(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        silo.Services.AddAuthJsSessionResolution(configuration);
        silo.Services.AddClusterSessionCache(configuration);

        // A renamed session cookie must key lookups here as it does in resolution.
        silo.Services.AddOptions<SessionCacheClientOptions>().PostConfigure<IOptions<SessionCacheOptions>>(static (client, resolution) =>
        {
            var options = resolution.Value;
            foreach (var name in new[] { options.Jwt.CookieName, options.Database.CookieName }.Concat(options.Proxy.CookieNames))
            {
                if (!string.IsNullOrEmpty(name) && !client.CookieNames.Contains(name))
                {
                    client.CookieNames.Add(name);
                }
            }
        });
        return silo;
    }

    /// <summary>
    /// Maps <c>GET /api/auth/session</c>, <c>POST /api/sessions/invalidate</c>, <c>/health</c> and
    /// the dashboard at <c>/dashboard</c>.
    /// </summary>
    /// <param name="app">The application.</param>
    /// <returns>The application.</returns>
    public static WebApplication MapSessionCacheEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseWhen(static context => context.Request.Path.StartsWithSegments("/dashboard"), static branch => branch.UseMiddleware<DashboardAccessMiddleware>());
        app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = HealthResponse.WriteAsync });
        app.MapOrleansDashboard(routePrefix: "/dashboard");
        app.MapSessionCacheApi();
        return app;
    }
}
