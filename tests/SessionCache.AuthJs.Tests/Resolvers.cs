using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace SessionCache.AuthJs.Tests;

/// <summary>Builds resolvers the way an app does: configuration, DI, options validated at start.</summary>
public static class Resolvers
{
    /// <summary>Every log line written by every resolver the tests built, with its arguments.</summary>
    public static ConcurrentQueue<string> Logs { get; } = new();

    public static Dictionary<string, string?> JwtSettings() => new()
    {
        ["SessionCache:Mode"] = "Local",
        ["SessionCache:Strategy"] = "Jwt",
        ["AUTH_SECRET"] = AuthJsServer.Secret0,
        ["AUTH_SECRET_1"] = AuthJsServer.Secret1,
        ["AUTH_SECRET_2"] = AuthJsServer.Secret2,
        ["NEXTAUTH_SECRET"] = AuthJsServer.NextAuthSecret,
    };

    public static ServiceProvider Build(Dictionary<string, string?> settings, TimeProvider? time = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddLogging(static logging => logging.SetMinimumLevel(LogLevel.Trace).AddProvider(new CapturingLoggerProvider()));
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.AddAuthJsSessionResolution(configuration);
        var provider = services.BuildServiceProvider();

        // What ValidateOnStart does when a host starts.
        provider.GetRequiredService<IStartupValidator>().Validate();
        return provider;
    }

    public static ISessionResolver Jwt(TimeProvider? time = null) =>
        Build(JwtSettings(), time).GetRequiredService<ISessionResolver>();

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new CapturingLogger();

        public void Dispose()
        {
        }
    }

    private sealed class CapturingLogger : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" ", pairs.Select(static p => $"{p.Key}={p.Value}")) : string.Empty;
            Logs.Enqueue($"{formatter(state, exception)} | {values} | {exception}");
        }
    }
}
