using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;
using SessionCache.Client;
using StackExchange.Redis;

namespace SessionCache.Cli;

/// <summary>The global options: where the cluster is and how long to wait for it.</summary>
/// <param name="Gateways"><c>--gateway host:port</c>, repeatable; replaces <c>Cluster:Gateways</c>.</param>
/// <param name="Redis"><c>--redis</c>: Redis membership at this connection string.</param>
/// <param name="ClusterId"><c>--cluster-id</c>.</param>
/// <param name="Timeout"><c>--timeout</c>: how long to wait for a gateway to answer.</param>
/// <param name="RedisPassword"><c>--redis-password -</c> or <c>SESSIONCACHE_REDIS_PASSWORD</c>: the password for the Redis connection string.</param>
internal sealed record GlobalSettings(IReadOnlyList<string> Gateways, string? Redis, string? ClusterId, TimeSpan Timeout, RedisPassword? RedisPassword = null);

/// <summary>A Redis password given apart from the connection string.</summary>
/// <param name="Value">The password.</param>
/// <param name="From">Where it came from, for messages: the option or the variable.</param>
/// <param name="Explicit">Given on this command line (an error without a Redis connection string), not merely in the environment.</param>
internal sealed record RedisPassword(string Value, string From, bool Explicit)
{
    // Never the value, should the record be printed.
    public override string ToString() => $"the Redis password from {From}";
}

/// <summary>
/// The configuration a CLI run connects with: environment variables as in any ASP.NET Core client
/// (<c>Cluster__Gateways__0</c>, <c>Cluster__ConnectionString</c>, ...), then the command-line
/// options over them, then what a one-shot process must not do (cache sessions, report metrics).
/// </summary>
internal static class ClusterSettings
{
    private const string Cluster = SessionCacheClusterOptions.SectionName + ":";
    private const string GatewaysPrefix = Cluster + "Gateways:";

    /// <summary>The flattened configuration for one run.</summary>
    /// <param name="environment">The environment's configuration (normally environment variables).</param>
    /// <param name="settings">The global options.</param>
    /// <param name="extra">Command-specific keys, applied last but before the forced ones.</param>
    public static Dictionary<string, string?> Build(IConfiguration environment, GlobalSettings settings, IEnumerable<KeyValuePair<string, string?>>? extra = null)
    {
        // The CLI's own secrets are its to read, not the client's configuration.
        var values = environment.AsEnumerable()
            .Where(static pair => pair.Value is not null
                && !pair.Key.Equals(CliCommands.TokenVariable, StringComparison.OrdinalIgnoreCase)
                && !pair.Key.Equals(CliCommands.RedisPasswordVariable, StringComparison.OrdinalIgnoreCase))
            .ToDictionary(static pair => pair.Key, static pair => pair.Value, StringComparer.OrdinalIgnoreCase);

        // A list in configuration merges by index: gateways given on the command line must replace
        // the environment's, not overwrite its first entries and keep the rest. With --redis the
        // client must follow Redis, which it does only when no gateway is listed.
        if (settings.Gateways.Count > 0 || settings.Redis is not null)
        {
            foreach (var key in values.Keys.Where(static k => k.StartsWith(GatewaysPrefix, StringComparison.OrdinalIgnoreCase)).ToList())
            {
                values.Remove(key);
            }
        }

        for (var i = 0; i < settings.Gateways.Count; i++)
        {
            values[GatewaysPrefix + i.ToString(CultureInfo.InvariantCulture)] = settings.Gateways[i];
        }

        if (settings.Redis is not null)
        {
            values[Cluster + nameof(SessionCacheClusterOptions.Membership)] = nameof(ClusterMembership.Redis);
            values[Cluster + nameof(SessionCacheClusterOptions.ConnectionString)] = settings.Redis;
        }

        if (settings.RedisPassword is { } password)
        {
            var key = Cluster + nameof(SessionCacheClusterOptions.ConnectionString);
            if (values.TryGetValue(key, out var connectionString) && !string.IsNullOrWhiteSpace(connectionString))
            {
                values[key] = WithPassword(connectionString, password);
            }
            else if (password.Explicit)
            {
                throw new CliFailure(ExitCodes.Usage, $"{password.From} is the password of a Redis connection string, and none is given: add --redis host:port (or set Cluster__ConnectionString).");
            }
        }

        if (settings.ClusterId is not null)
        {
            values[Cluster + nameof(SessionCacheClusterOptions.ClusterId)] = settings.ClusterId;
        }

        foreach (var (key, value) in extra ?? [])
        {
            values[key] = value;
        }

        // A one-shot process must not serve from a near cache (it would subscribe to invalidations
        // for nothing) nor send metrics: it would show up on the dashboard as a client for 30 s.
        values["SessionCache:NearCache:Enabled"] = "false";
        values["SessionCache:ReportMetrics"] = "false";
        return values;
    }

    /// <summary>
    /// Binds and checks the <c>Cluster</c> and <c>SessionCache</c> sections as the client will at
    /// start, so that a mistake is reported before any connection attempt, naming the key.
    /// </summary>
    /// <exception cref="CliFailure">The configuration is invalid (exit code 2).</exception>
    public static SessionCacheClusterOptions Validate(IConfiguration configuration)
    {
        SessionCacheClusterOptions cluster;
        SessionCacheClientOptions client;
        try
        {
            cluster = configuration.GetSection(SessionCacheClusterOptions.SectionName).Get<SessionCacheClusterOptions>() ?? new();
            client = configuration.GetSection(SessionCacheClientOptions.SectionName).Get<SessionCacheClientOptions>(static binder => binder.ErrorOnUnknownConfiguration = false) ?? new();
        }
        catch (InvalidOperationException exception)
        {
            // The binder names the key and the type ("Failed to convert configuration value at
            // 'Cluster:Membership' to type ..."); its inner exception says what was wrong.
            throw new CliFailure(ExitCodes.Usage, $"Invalid configuration: {exception.Message} {exception.InnerException?.Message}".TrimEnd());
        }

        var failures = (new SessionCacheClusterOptionsValidator().Validate(null, cluster).Failures ?? [])
            .Concat(new SessionCacheClientOptionsValidator().Validate(null, client).Failures ?? [])
            .ToList();
        if (failures.Count > 0)
        {
            throw new CliFailure(ExitCodes.Usage, "Invalid configuration: " + string.Join(" ", failures));
        }

        return cluster;
    }

    /// <summary>What the client waits for, for messages: where, and the key that says so. Never a password.</summary>
    public static ConnectionTarget Describe(SessionCacheClusterOptions cluster)
    {
        if (cluster.Gateways.Count > 0)
        {
            var list = string.Join(", ", cluster.Gateways);
            return new(cluster.Gateways.Count == 1 ? "gateway " : "gateways ", $"{list} (Cluster:Gateways)");
        }

        if (cluster.Membership == ClusterMembership.Redis)
        {
            return new("gateways listed in Redis at ", $"{RedisHosts(cluster.ConnectionString!)} (Cluster:ConnectionString)");
        }

        var local = new IPEndPoint(IPAddress.Loopback, cluster.GatewayPort);
        return new("gateway ", $"{local} (the default: no --gateway, Cluster:Gateways or --redis given)");
    }

    /// <summary>Whether a Redis connection string carries a <c>password=</c>.</summary>
    public static bool HasPassword(string connectionString) =>
        connectionString.Split(',').Any(static part => IsPassword(part));

    /// <summary>
    /// <paramref name="connectionString"/> with <paramref name="password"/> as its password, in
    /// place of any it had; its other options are kept as they were written.
    /// </summary>
    /// <exception cref="CliFailure">The password cannot be written into a connection string (exit code 2).</exception>
    internal static string WithPassword(string connectionString, RedisPassword password)
    {
        // StackExchange.Redis splits its configuration at commas, with no way to quote one.
        if (password.Value.Contains(',', StringComparison.Ordinal))
        {
            throw new CliFailure(ExitCodes.Usage, $"The Redis password from {password.From} contains a comma, which a Redis connection string cannot carry.");
        }

        var parts = connectionString.Split(',').Where(static part => !IsPassword(part) && part.Trim().Length > 0);
        return string.Join(',', parts.Append("password=" + password.Value));
    }

    private static bool IsPassword(string part) =>
        part.IndexOf('=', StringComparison.Ordinal) is var equals and > 0 && part[..equals].Trim().Equals("password", StringComparison.OrdinalIgnoreCase);

    /// <summary>The hosts of a Redis connection string, without its password or other options.</summary>
    private static string RedisHosts(string connectionString)
    {
        var options = ConfigurationOptions.Parse(connectionString);
        options.SetDefaultPorts();
        return string.Join(", ", options.EndPoints.Select(static endpoint => endpoint switch
        {
            DnsEndPoint dns => $"{dns.Host}:{dns.Port.ToString(CultureInfo.InvariantCulture)}",
            _ => endpoint.ToString(),
        }));
    }
}

/// <summary>What a run connects to, for the waiting and timeout messages.</summary>
/// <param name="Noun">"gateway ", "gateways " or "gateways listed in Redis at ".</param>
/// <param name="Where">The addresses and the configuration key they came from.</param>
internal sealed record ConnectionTarget(string Noun, string Where)
{
    /// <summary>For "Waiting for the cluster: ...": e.g. <c>gateway 127.0.0.1:30000 (Cluster:Gateways)</c>.</summary>
    public string Waiting => Noun + Where;

    /// <summary>For "No gateway answered within 15 s at ...".</summary>
    public string At => IsRedis ? "the " + Noun + Where : Where;

    /// <summary>What to check when nothing answered.</summary>
    public string Hint => IsRedis ? "is Redis reachable, and a silo running?" : "is a silo running?";

    private bool IsRedis => Noun.StartsWith("gateways listed", StringComparison.Ordinal);
}
