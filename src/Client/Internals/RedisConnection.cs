using StackExchange.Redis;

namespace SessionCache.Client.Internals;

/// <summary>How every process of the cluster connects to Redis: one place, so silos and clients agree.</summary>
internal static class RedisConnection
{
    /// <summary>
    /// The connection options for <paramref name="connectionString"/>. A Redis that is down when a
    /// process starts, or restarts later, is retried in the background rather than failing the
    /// process for good; calls made meanwhile fail and are retried by their callers.
    /// </summary>
    public static ConfigurationOptions Options(string connectionString)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.AbortOnConnectFail = false;
        options.ClientName ??= "session-cache";
        return options;
    }

    /// <summary>Why <paramref name="connectionString"/> cannot be parsed, or <see langword="null"/>.</summary>
    public static string? ParseError(string connectionString)
    {
        try
        {
            var options = ConfigurationOptions.Parse(connectionString);
            return options.EndPoints.Count == 0 ? "it names no host" : null;
        }
        catch (ArgumentException exception)
        {
            return exception.Message;
        }
    }
}
