using Microsoft.Extensions.Options;

namespace SessionCache.Silo;

/// <summary>How silos find each other: one silo on this machine, or a Redis-backed cluster.</summary>
public enum ClusterMembership
{
    /// <summary>One silo on this machine, nothing to install (the embedded default).</summary>
    Localhost,

    /// <summary>Membership and grain storage in Redis (<c>Cluster:ConnectionString</c>).</summary>
    Redis,
}

/// <summary>Options of the <c>Cluster</c> configuration section.</summary>
public sealed class SessionCacheClusterOptions
{
    /// <summary>The configuration section these options bind to.</summary>
    public const string SectionName = "Cluster";

    /// <summary><c>Cluster:Membership</c>. Default <see cref="ClusterMembership.Localhost"/>.</summary>
    public ClusterMembership Membership { get; set; } = ClusterMembership.Localhost;

    /// <summary><c>Cluster:ConnectionString</c>: Redis, for membership and grain storage.</summary>
    public string? ConnectionString { get; set; }

    /// <summary><c>Cluster:ClusterId</c>: silos with the same id form one cluster. Default <c>session-cache</c>.</summary>
    public string ClusterId { get; set; } = "session-cache";

    /// <summary><c>Cluster:ServiceId</c>: stable across deployments; keys grain storage. Default <c>session-cache</c>.</summary>
    public string ServiceId { get; set; } = "session-cache";

    /// <summary><c>Cluster:SiloPort</c>: silo-to-silo traffic. Default 11111.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary><c>Cluster:GatewayPort</c>: client traffic. Default 30000.</summary>
    public int GatewayPort { get; set; } = 30000;
}

internal sealed class SessionCacheClusterOptionsValidator : IValidateOptions<SessionCacheClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, SessionCacheClusterOptions options)
    {
        var failures = new List<string>();
        const string Prefix = SessionCacheClusterOptions.SectionName + ":";
        if (options.Membership == ClusterMembership.Redis)
        {
            failures.Add($"{Prefix}{nameof(options.Membership)}=Redis is not available in this version; use Localhost (the default) for a single silo.");
        }
        else if (options.Membership != ClusterMembership.Localhost)
        {
            failures.Add($"{Prefix}{nameof(options.Membership)} must be Localhost or Redis.");
        }

        if (string.IsNullOrWhiteSpace(options.ClusterId) || string.IsNullOrWhiteSpace(options.ServiceId))
        {
            failures.Add($"{Prefix}{nameof(options.ClusterId)} and {Prefix}{nameof(options.ServiceId)} must not be empty.");
        }

        if (options.SiloPort is < 1 or > 65535 || options.GatewayPort is < 1 or > 65535 || options.SiloPort == options.GatewayPort)
        {
            failures.Add($"{Prefix}{nameof(options.SiloPort)} and {Prefix}{nameof(options.GatewayPort)} must be distinct ports between 1 and 65535.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
