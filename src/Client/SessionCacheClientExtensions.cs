using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Client.Internals;

namespace SessionCache.Client;

/// <summary>Connects a service outside the cluster to it, for session lookups and sign-outs.</summary>
public static class SessionCacheClientExtensions
{
    /// <summary>
    /// Adds an Orleans client connected to the cluster's gateways (the live silos listed in Redis
    /// with <c>Cluster:Membership=Redis</c>, else <c>Cluster:Gateways</c>, or this machine's silo
    /// at <c>Cluster:GatewayPort</c>; <c>Cluster:ClusterId</c> and
    /// <c>Cluster:ServiceId</c> must match the silos'), and registers <see cref="ISessionCache"/>
    /// and <see cref="ISessionResolver"/> over it. The <c>GetServerSessionAsync</c> extension
    /// methods then work as in a co-hosted silo.
    /// </summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="configureClient">Further Orleans client configuration; TLS needs none: <c>Cluster:Tls</c> turns it on.</param>
    /// <returns>The builder.</returns>
    public static IHostApplicationBuilder AddSessionCacheClient(this IHostApplicationBuilder builder, Action<Orleans.Hosting.IClientBuilder>? configureClient = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var section = builder.Configuration.GetSection(SessionCacheClusterOptions.SectionName);
        builder.Services.AddOptions<SessionCacheClusterOptions>().Bind(section).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SessionCacheClusterOptions>, SessionCacheClusterOptionsValidator>());

        ConfigurationChecks.ThrowOnUnknownEnumValues(section, typeof(SessionCacheClusterOptions));
        var cluster = section.Get<SessionCacheClusterOptions>() ?? new();
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(options =>
            {
                options.ClusterId = cluster.ClusterId;
                options.ServiceId = cluster.ServiceId;
            });
            if (cluster.Membership == ClusterMembership.Redis && cluster.Gateways.Count == 0)
            {
                // The gateways are the live silos Redis lists; the client follows joins and leaves.
                client.UseRedisClustering(options => options.ConfigurationOptions = RedisConnection.Options(cluster.ConnectionString!));
            }
            else
            {
                client.UseStaticClustering(options =>
                {
                    // Resolved when the client starts, after validation has named any malformed entry.
                    var validation = new SessionCacheClusterOptionsValidator().Validate(null, cluster);
                    if (validation.Failed)
                    {
                        throw new OptionsValidationException(SessionCacheClusterOptions.SectionName, typeof(SessionCacheClusterOptions), validation.Failures);
                    }

                    var gateways = cluster.ResolveGateways();
                    options.Gateways = gateways.Count > 0
                        ? [.. gateways.Select(static g => g.ToGatewayUri())]
                        : [new IPEndPoint(IPAddress.Loopback, cluster.GatewayPort).ToGatewayUri()];
                });
            }

            // A gateway that died is noticed by its closed connection; the list is refreshed
            // often so that a restarted or new silo is used soon after it joins.
            client.Configure<GatewayOptions>(options => options.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            client.Services.AddSingleton<ILifecycleParticipant<IClusterClientLifecycle>, ClientStartupChecks>();
            if (cluster.Tls.Enabled)
            {
                // The gateway's certificate must chain to our CA; ours is presented when asked.
                ClusterTls.AddClusterTls(client.Services);
                client.Services.AddOptions<ClientConnectionOptions>().Configure<ClusterTls>(static (options, tls) =>
                    options.ConfigureConnection(connection => connection.UseClientTls(tls.CreateOptions(requirePeerCertificate: true))));
            }

            configureClient?.Invoke(client);
        });

        builder.Services.AddClusterSessionCache(builder.Configuration);
        builder.Services.AddSessionCacheStartupChecks();
        SessionCacheTelemetry.AddOtlpWhenConfigured(builder, "session-cache-client");
        return builder;
    }

    /// <summary>
    /// Registers the checks that run first when the silo or client starts (options, then Redis);
    /// the silo's or client's lifecycle runs them (<see cref="ClientStartupChecks"/>).
    /// </summary>
    internal static IServiceCollection AddSessionCacheStartupChecks(this IServiceCollection services)
    {
        services.TryAddSingleton<StartupChecks>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IStartupCheck, RedisStartupCheck>());
        return services;
    }

    /// <summary>
    /// Registers <see cref="ISessionCache"/> over whatever <see cref="IGrainFactory"/> the process
    /// has (a silo's or a client's), the near cache and its invalidation subscription.
    /// </summary>
    internal static IServiceCollection AddClusterSessionCache(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SessionCacheClientOptions>()
            .Bind(configuration.GetSection(SessionCacheClientOptions.SectionName), static binder => binder.ErrorOnUnknownConfiguration = false)
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SessionCacheClientOptions>, SessionCacheClientOptionsValidator>());
        services.AddHttpContextAccessor();
        services.TryAddSingleton(static sp =>
        {
            var options = sp.GetRequiredService<IOptions<SessionCacheClientOptions>>().Value;
            return new SessionKeys(options.CookieNames, options.MaxCookieHeaderLength);
        });
        services.AddMetrics();
        services.TryAddSingleton(static sp => new SessionCacheMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton(MetricsProcessIdentity.Client);
        services.TryAddSingleton(static sp => new NearCache(sp.GetRequiredService<IOptions<SessionCacheClientOptions>>().Value.NearCache.MaxEntries, SessionCacheClock.Get(sp)));
        services.TryAddSingleton(static sp => ActivatorUtilities.CreateInstance<ClusterSessionCache>(sp, SessionCacheClock.Get(sp)));
        services.TryAddSingleton<ISessionCache>(static sp => sp.GetRequiredService<ClusterSessionCache>());

        // Lookups through the plain resolver interface go through the cache too.
        services.Replace(ServiceDescriptor.Singleton<ISessionResolver>(static sp => sp.GetRequiredService<ClusterSessionCache>()));
        services.AddHostedService<InvalidationSubscriber>();
        if (configuration.GetValue(SessionCacheClientOptions.SectionName + ":" + nameof(SessionCacheClientOptions.ReportMetrics), true))
        {
            services.AddHostedService<MetricsReporter>();
        }

        return services;
    }
}
