using Microsoft.Extensions.DependencyInjection;

namespace SessionCache.AuthJs;

/// <summary>
/// The clock session expiry and caching read. It is a keyed service so that tests can move it
/// without moving the clock Orleans itself runs on.
/// </summary>
public static class SessionCacheClock
{
    /// <summary>The service key of the <see cref="TimeProvider"/> the session cache reads.</summary>
    public const string ServiceKey = "SessionCache";

    /// <summary>The session cache's clock: the keyed one if registered, else the app's, else the system clock.</summary>
    /// <param name="services">The service provider.</param>
    /// <returns>The clock.</returns>
    public static TimeProvider Get(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.GetKeyedService<TimeProvider>(ServiceKey) ?? services.GetService<TimeProvider>() ?? TimeProvider.System;
    }
}
