using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs.Internals;

namespace SessionCache.AuthJs;

/// <summary>Registers Auth.js session resolution.</summary>
public static class AuthJsServiceCollectionExtensions
{
    /// <summary>
    /// The service key of the <see cref="ISessionResolver"/> that always resolves, never caches.
    /// A silo replaces the plain <see cref="ISessionResolver"/> with the cluster's cache; its
    /// session grains resolve through this one.
    /// </summary>
    public const string DirectResolverKey = "SessionCache.AuthJs.Direct";

    /// <summary>
    /// Adds <see cref="ISessionResolver"/>, configured from the <c>SessionCache</c> section and
    /// Auth.js' own variables (<c>AUTH_SECRET</c>, <c>AUTH_SECRET_1..3</c>, <c>NEXTAUTH_SECRET</c>)
    /// of <paramref name="configuration"/>, and validated when the host starts.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The configuration root.</param>
    /// <param name="configure">Further configuration in code, applied after the configuration.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddAuthJsSessionResolution(this IServiceCollection services, IConfiguration configuration, Action<SessionCacheOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        var optionsBuilder = services.AddOptions<SessionCacheOptions>()
            .Bind(configuration.GetSection(SessionCacheOptions.SectionName), static binder => binder.ErrorOnUnknownConfiguration = false);
        if (configure is not null)
        {
            optionsBuilder.Configure(configure);
        }

        optionsBuilder.ValidateOnStart();
        services.TryAddSingleton(new AuthJsSecrets(configuration));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SessionCacheOptions>, SessionCacheOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddHttpContextAccessor();
        services.AddHttpClient(ProxySessionSource.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(static () => new SocketsHttpHandler
            {
                // A redirect means a wrong base path or a login page, never a session.
                AllowAutoRedirect = false,
                UseCookies = false,
                PooledConnectionLifetime = TimeSpan.FromMinutes(2),
                ConnectTimeout = TimeSpan.FromSeconds(5),
            })
            .ConfigureHttpClient(static client => client.Timeout = Timeout.InfiniteTimeSpan);

        services.AddMetrics();
        services.TryAddSingleton(static sp => new SessionCacheMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.TryAddSingleton<AuthJsKeyRing>();
        services.TryAddSingleton<ConfiguredShaper>();
        services.TryAddSingleton(static sp => new JwtSessionSource(Value(sp), sp.GetRequiredService<AuthJsKeyRing>(), SessionCacheClock.Get(sp), Logger<JwtSessionSource>(sp), Shaper(sp)));
        services.TryAddSingleton(static sp => new DatabaseSessionSource(Value(sp), SessionCacheClock.Get(sp), Logger<DatabaseSessionSource>(sp), sp.GetService<SessionCacheMetrics>(), Shaper(sp)));
        services.TryAddSingleton(static sp => new ProxySessionSource(Value(sp), sp.GetRequiredService<IHttpClientFactory>(), SessionCacheClock.Get(sp), Logger<ProxySessionSource>(sp), sp.GetService<SessionCacheMetrics>()));
        services.TryAddSingleton<ISessionCookieWriter>(static sp => new SessionCookieWriter(sp.GetRequiredService<IOptions<SessionCacheOptions>>(), sp.GetRequiredService<JwtSessionSource>(), SessionCacheClock.Get(sp)));
        services.TryAddSingleton<SessionResolver>();
        services.TryAddSingleton<ISessionResolver>(static sp => sp.GetRequiredService<SessionResolver>());
        services.TryAddKeyedSingleton<ISessionResolver>(DirectResolverKey, static (sp, _) => sp.GetRequiredService<SessionResolver>());
        return services;

        static ISessionShaper? Shaper(IServiceProvider sp) => sp.GetRequiredService<ConfiguredShaper>().GetOrCreate(Value(sp));
        static SessionCacheOptions Value(IServiceProvider sp) => sp.GetRequiredService<IOptions<SessionCacheOptions>>().Value;
        static Microsoft.Extensions.Logging.ILogger<T> Logger<T>(IServiceProvider sp) => sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<T>>();
    }
}
