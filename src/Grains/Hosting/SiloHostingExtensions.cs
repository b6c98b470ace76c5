using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;
using SessionCache.AspNetCore;
using SessionCache.AuthJs;
using SessionCache.Client;
using SessionCache.Client.Internals;
using SessionCache.Grains;

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
    /// <param name="configureSilo">
    /// Further Orleans configuration, applied last. TLS needs none: <c>Cluster:Tls</c> turns it on
    /// (see docs/operations.md, "Security").
    /// </param>
    /// <returns>The builder.</returns>
    public static WebApplicationBuilder AddSessionCacheSilo(this WebApplicationBuilder builder, Action<ISiloBuilder>? configureSilo = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var configuration = builder.Configuration;
        builder.Services.AddOptions<SessionCacheClusterOptions>()
            .Bind(configuration.GetSection(SessionCacheClusterOptions.SectionName))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<SessionCacheClusterOptions>, SessionCacheClusterOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<SessionCacheClusterOptions>, SiloTlsOptionsValidator>();

        ConfigurationChecks.ThrowOnUnknownEnumValues(configuration.GetSection(SessionCacheClusterOptions.SectionName), typeof(SessionCacheClusterOptions));
        ConfigurationChecks.ThrowOnUnknownEnumValues(configuration.GetSection(SessionCacheOptions.SectionName), typeof(SessionCacheOptions));
        var cluster = configuration.GetSection(SessionCacheClusterOptions.SectionName).Get<SessionCacheClusterOptions>() ?? new();
        builder.UseOrleans(silo =>
        {
            silo.UseSessionCacheClustering(cluster, configuration.GetSection(SessionCacheClusterOptions.SectionName));
            silo.AddDashboard();
            silo.AddSessionCache(configuration);
            if (cluster.Tls.Enabled)
            {
                silo.UseSessionCacheTls();
            }

            configureSilo?.Invoke(silo);
        });

        // Run first in the silo's lifecycle: they must fail before the silo joins.
        builder.Services.AddSessionCacheStartupChecks();
        builder.Services.AddSingleton<IStartupCheck, ResolutionStartupCheck>();
        builder.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SiloStartupChecks>();
        SessionCacheTelemetry.AddOtlpWhenConfigured(builder, "session-cache-silo");
        builder.Services.AddHealthChecks().AddCheck<SiloMembershipHealthCheck>("orleans-membership", tags: [ReadyTag]);
        return builder;
    }

    /// <summary>
    /// Configures membership, grain storage, the grain directory and failure detection from the
    /// <c>Cluster</c> section: <c>Localhost</c> (one silo, memory storage, nothing to install) or
    /// <c>Redis</c> (membership and grain storage in Redis at <c>Cluster:ConnectionString</c>).
    /// Failure detection is tuned so that a dead silo is declared dead within about 6 seconds
    /// (see docs/operations.md, "Failures"); <c>Cluster:Liveness:*</c> overrides Orleans'
    /// <see cref="ClusterMembershipOptions"/> one by one.
    /// </summary>
    private static ISiloBuilder UseSessionCacheClustering(this ISiloBuilder silo, SessionCacheClusterOptions cluster, IConfigurationSection section)
    {
        // Validation (at start, with every failure named) has not run yet, and Orleans checks its
        // Redis options before it: with no usable connection string, stay on localhost clustering
        // so that the start fails with our message naming the key, not Orleans'.
        var redis = cluster.Membership == ClusterMembership.Redis && RedisConnection.ParseError(cluster.ConnectionString ?? string.Empty) is null
            ? RedisConnection.Options(cluster.ConnectionString!)
            : null;
        if (redis is null)
        {
            silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
            silo.Configure<EndpointOptions>(endpoints => endpoints.AdvertisedIPAddress = IPAddress.Loopback);
            silo.AddMemoryGrainStorageAsDefault();
            return silo;
        }

        silo.Configure<ClusterOptions>(options =>
        {
            options.ClusterId = cluster.ClusterId;
            options.ServiceId = cluster.ServiceId;
        });
        silo.UseRedisClustering(options => options.ConfigurationOptions = redis);
        silo.AddRedisGrainStorageAsDefault(options => options.ConfigurationOptions = redis);
        var advertised = cluster.ResolveAdvertisedAddress();
        silo.Configure<EndpointOptions>(endpoints =>
        {
            endpoints.SiloPort = cluster.SiloPort;
            endpoints.GatewayPort = cluster.GatewayPort;
            if (advertised is not null)
            {
                endpoints.AdvertisedIPAddress = advertised;
                if (IPAddress.IsLoopback(advertised))
                {
                    endpoints.SiloListeningEndpoint = new IPEndPoint(advertised, cluster.SiloPort);
                    endpoints.GatewayListeningEndpoint = new IPEndPoint(advertised, cluster.GatewayPort);
                }
            }
        });

        if (cluster.GrainDirectory == ClusterGrainDirectory.Distributed)
        {
            // Marked experimental by Orleans; chosen for its consistency during membership changes,
            // measured against the classic directory in docs/benchmarks.md.
#pragma warning disable ORLEANSEXP003
            silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003

            // After a crash the directory holds the dead silo's grains back for this long (Orleans:
            // 30 s), in case the silo is only cut off and still runs them. Here a duplicate session
            // activation costs at most one extra resolution, and sign-outs do not rely on single
            // activation (see docs/design.md, "Sign-out guarantee"), while 30 s without the crashed silo's
            // sessions is an outage: 2 s, counted from the estimated time of failure.
            silo.Configure<GrainDirectoryOptions>(options => options.RangeLeaseDuration = TimeSpan.FromSeconds(2));
            silo.Configure<GrainDirectoryOptions>(section.GetSection("Directory"));
        }

        silo.Configure<ClusterMembershipOptions>(options =>
        {
            // Orleans' defaults take 15 s or more to declare a silo dead; the sessions it held are
            // unavailable that long. A missed probe costs at most 2 s here, three of them (from two
            // silos) declare the silo dead, and gossip tells everyone at once.
            options.ProbeTimeout = TimeSpan.FromSeconds(1);
            options.MaxProbeTimeout = TimeSpan.FromSeconds(2);
            options.NumMissedProbesLimit = 3;
            options.NumVotesForDeathDeclaration = 2;
            options.TableRefreshTimeout = TimeSpan.FromSeconds(5);
        });
        silo.Configure<ClusterMembershipOptions>(section.GetSection("Liveness"));
        return silo;
    }

    /// <summary>
    /// Mutual TLS on every silo connection (<c>Cluster:Tls</c>): silos always demand a trusted
    /// certificate of each other; the gateway demands one of clients unless
    /// <c>Cluster:Tls:RequireClientCertificate</c> is off. A peer that is refused never gets to
    /// send a message, so it cannot call a grain.
    /// </summary>
    private static void UseSessionCacheTls(this ISiloBuilder silo)
    {
        ClusterTls.AddClusterTls(silo.Services);
        silo.Services.AddOptions<SiloConnectionOptions>().Configure<ClusterTls, IOptions<SessionCacheClusterOptions>>(static (options, tls, cluster) =>
        {
            var requireClients = cluster.Value.Tls.RequireClientCertificate;
            options.ConfigureSiloInboundConnection(connection => connection.UseServerTls(tls.CreateOptions(requirePeerCertificate: true)));
            options.ConfigureGatewayInboundConnection(connection => connection.UseServerTls(tls.CreateOptions(requirePeerCertificate: requireClients)));
            options.ConfigureSiloOutboundConnection(connection => connection.UseClientTls(tls.CreateOptions(requirePeerCertificate: true)));
        });
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
        silo.Services.AddSingleton(static sp =>
        {
            var silo = sp.GetRequiredService<ILocalSiloDetails>();
            return new MetricsProcessIdentity(() => "silo " + silo.SiloAddress.Endpoint, () => silo.SiloAddress.Endpoint.ToString());
        });
        silo.Services.TryAddSingleton(static _ => new SessionCache.Grains.NegativeAnswers());
        silo.Services.TryAddSingleton<SessionExpiry>();

        // The sign-out fan-out: a relay on every silo, published to from wherever a sign-out happens.
        silo.Services.AddSingleton<InvalidationRelayState>(static sp => new(sp.GetService<TimeProvider>()));
        silo.Services.AddPlacementDirector<SiloBoundPlacement, SiloBoundPlacementDirector>();
        silo.Services.AddSingleton<InvalidationFanOut>();
        silo.Services.AddHostedService(static sp => sp.GetRequiredService<InvalidationFanOut>());
        silo.Services.AddAuthJsSessionResolution(configuration);
        silo.Services.AddClusterSessionCache(configuration);
        silo.Services.AddSessionCacheDashboard();

        // A renamed session cookie must key lookups here as it does in resolution.
        silo.Services.AddOptions<SessionCacheClientOptions>().PostConfigure<IOptions<SessionCacheOptions>>(static (client, resolution) =>
        {
            client.SubscribeWithoutNearCache = true;
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
    /// Maps <c>GET /api/auth/session</c>, <c>POST /api/sessions/invalidate</c>, the health probes
    /// <c>/health/live</c> (the process runs) and <c>/health/ready</c> (this silo is an active
    /// cluster member; <c>/health</c> is the same), the Orleans dashboard at <c>/dashboard</c> and
    /// this product's live charts at <c>/dashboard/sessions</c>.
    /// </summary>
    /// <param name="app">The application.</param>
    /// <returns>The application.</returns>
    public static WebApplication MapSessionCacheEndpoints(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseSessionCacheDashboard();
        var ready = new HealthCheckOptions { ResponseWriter = HealthResponse.WriteAsync, Predicate = static check => check.Tags.Contains(ReadyTag) };
        app.MapHealthChecks("/health", ready);
        app.MapHealthChecks("/health/ready", ready);

        // Liveness runs no check: a silo that is joining, or cut off from its cluster, is alive;
        // restarting it would not help, while not routing to it (readiness) does.
        app.MapHealthChecks("/health/live", new HealthCheckOptions { ResponseWriter = HealthResponse.WriteAsync, Predicate = static _ => false });
        app.MapSessionsDashboard();
        app.MapOrleansDashboard(routePrefix: "/dashboard");
        app.MapSessionCacheApi();
        return app;
    }

    private const string ReadyTag = "ready";

    /// <summary>What a silo needs beyond a client: its own certificate, which it presents to every peer.</summary>
    private sealed class SiloTlsOptionsValidator : IValidateOptions<SessionCacheClusterOptions>
    {
        public ValidateOptionsResult Validate(string? name, SessionCacheClusterOptions options) =>
            options.Tls.Enabled && string.IsNullOrWhiteSpace(options.Tls.Certificate)
                ? ValidateOptionsResult.Fail("Cluster:Tls:Enabled=true on a silo needs Cluster:Tls:Certificate: the silo's certificate (PEM with Cluster:Tls:PrivateKey, or .pfx), which clients and other silos must trust.")
                : ValidateOptionsResult.Success;
    }
}
