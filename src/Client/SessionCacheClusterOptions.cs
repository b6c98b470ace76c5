using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using SessionCache.Client.Internals;

namespace SessionCache.Client;

/// <summary>How silos find each other: one silo on this machine, or a Redis-backed cluster.</summary>
public enum ClusterMembership
{
    /// <summary>One silo on this machine, nothing to install (the embedded default).</summary>
    Localhost,

    /// <summary>Membership and grain storage in Redis (<c>Cluster:ConnectionString</c>).</summary>
    Redis,
}

/// <summary>Which grain directory tells the cluster where each session's single activation lives.</summary>
public enum ClusterGrainDirectory
{
    /// <summary>
    /// Orleans' strongly consistent distributed directory: while silos join or leave, a session
    /// still has one activation, so it is resolved once (the default; see docs/benchmarks.md).
    /// </summary>
    Distributed,

    /// <summary>
    /// Orleans' classic, eventually consistent directory: during a membership change two silos
    /// can briefly each activate the same session and resolve it twice.
    /// </summary>
    Classic,
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

    /// <summary>
    /// <c>Cluster:GrainDirectory</c>: <see cref="ClusterGrainDirectory.Distributed"/> (default) or
    /// <see cref="ClusterGrainDirectory.Classic"/>. Every silo of a cluster must use the same one.
    /// </summary>
    public ClusterGrainDirectory GrainDirectory { get; set; } = ClusterGrainDirectory.Distributed;

    /// <summary>
    /// <c>Cluster:AdvertisedAddress</c>: the IP address or host name other silos and clients reach
    /// this silo at (Redis membership). Default: this machine's first network address. When it is
    /// a loopback address the silo listens on loopback only.
    /// </summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary><c>Cluster:ClusterId</c>: silos with the same id form one cluster. Default <c>session-cache</c>.</summary>
    public string ClusterId { get; set; } = "session-cache";

    /// <summary><c>Cluster:ServiceId</c>: stable across deployments; keys grain storage. Default <c>session-cache</c>.</summary>
    public string ServiceId { get; set; } = "session-cache";

    /// <summary><c>Cluster:SiloPort</c>: silo-to-silo traffic. Default 11111.</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary><c>Cluster:GatewayPort</c>: client traffic. Default 30000.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// <c>Cluster:StartupTimeout</c>: how long a starting process waits for Redis (with
    /// <see cref="ClusterMembership.Redis"/>) before it gives up and stops. Default 30 s.
    /// </summary>
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// For clients: the gateways to connect to, as <c>host:port</c> (an IP address or a DNS name).
    /// Empty means this machine's silo: <c>127.0.0.1:</c><see cref="GatewayPort"/>.
    /// </summary>
    public IList<string> Gateways { get; } = [];

    /// <summary><c>Cluster:Tls</c>: mutual TLS on the silo and gateway ports. Off by default.</summary>
    public SessionCacheTlsOptions Tls { get; } = new();

    /// <summary><see cref="AdvertisedAddress"/> resolved, or <see langword="null"/> for Orleans' choice.</summary>
    internal IPAddress? ResolveAdvertisedAddress()
    {
        if (string.IsNullOrWhiteSpace(AdvertisedAddress))
        {
            return null;
        }

        return IPAddress.TryParse(AdvertisedAddress, out var address)
            ? address
            : Dns.GetHostAddresses(AdvertisedAddress).OrderBy(static a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).First();
    }

    /// <summary>The gateways as endpoints, DNS names resolved; empty for none configured.</summary>
    internal IReadOnlyList<IPEndPoint> ResolveGateways()
    {
        var endpoints = new List<IPEndPoint>();
        foreach (var gateway in Gateways)
        {
            if (IPEndPoint.TryParse(gateway, out var endpoint) && endpoint.Port != 0)
            {
                endpoints.Add(endpoint);
                continue;
            }

            var colon = gateway.LastIndexOf(':');
            var host = gateway[..colon];
            var port = int.Parse(gateway[(colon + 1)..], CultureInfo.InvariantCulture);
            var address = Dns.GetHostAddresses(host).OrderBy(static a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).First();
            endpoints.Add(new IPEndPoint(address, port));
        }

        return endpoints;
    }
}

internal sealed class SessionCacheClusterOptionsValidator : IValidateOptions<SessionCacheClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, SessionCacheClusterOptions options)
    {
        var failures = new List<string>();
        const string Prefix = SessionCacheClusterOptions.SectionName + ":";
        if (options.Membership == ClusterMembership.Redis)
        {
            if (string.IsNullOrWhiteSpace(options.ConnectionString))
            {
                failures.Add($"{Prefix}{nameof(options.Membership)}=Redis needs {Prefix}{nameof(options.ConnectionString)}, e.g. redis-host:6379 or redis-host:6379,password=...,ssl=true.");
            }
            else if (RedisConnection.ParseError(options.ConnectionString) is { } error)
            {
                failures.Add($"{Prefix}{nameof(options.ConnectionString)} is not a Redis connection string ({error}); expected e.g. redis-host:6379 or redis-host:6379,password=...,ssl=true.");
            }
        }
        else if (options.Membership != ClusterMembership.Localhost)
        {
            failures.Add($"{Prefix}{nameof(options.Membership)} must be Localhost or Redis.");
        }

        if (options.StartupTimeout < TimeSpan.Zero)
        {
            failures.Add($"{Prefix}{nameof(options.StartupTimeout)} must not be negative, e.g. 00:00:30.");
        }

        if (!Enum.IsDefined(options.GrainDirectory))
        {
            failures.Add($"{Prefix}{nameof(options.GrainDirectory)} must be Distributed or Classic.");
        }

        if (!string.IsNullOrWhiteSpace(options.AdvertisedAddress)
            && !IPAddress.TryParse(options.AdvertisedAddress, out _)
            && Uri.CheckHostName(options.AdvertisedAddress) is not UriHostNameType.Dns)
        {
            failures.Add($"{Prefix}{nameof(options.AdvertisedAddress)} is '{options.AdvertisedAddress}'; expected an IP address or a host name.");
        }

        if (string.IsNullOrWhiteSpace(options.ClusterId) || string.IsNullOrWhiteSpace(options.ServiceId))
        {
            failures.Add($"{Prefix}{nameof(options.ClusterId)} and {Prefix}{nameof(options.ServiceId)} must not be empty.");
        }

        if (options.SiloPort is < 1 or > 65535 || options.GatewayPort is < 1 or > 65535 || options.SiloPort == options.GatewayPort)
        {
            failures.Add($"{Prefix}{nameof(options.SiloPort)} and {Prefix}{nameof(options.GatewayPort)} must be distinct ports between 1 and 65535.");
        }

        if (options.Tls.Enabled)
        {
            if (options.Tls.HandshakeTimeout <= TimeSpan.Zero)
            {
                failures.Add($"{Prefix}Tls:{nameof(options.Tls.HandshakeTimeout)} must be positive, e.g. 00:00:10.");
            }

            if (ClusterTls.Problem(options.Tls) is { } problem)
            {
                failures.Add(problem);
            }
        }

        foreach (var gateway in options.Gateways)
        {
            if (!IsGateway(gateway))
            {
                failures.Add($"{Prefix}{nameof(options.Gateways)} contains '{gateway}'; expected host:port, e.g. 10.0.0.5:30000 or silo-1:30000.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool IsGateway(string? gateway)
    {
        if (string.IsNullOrWhiteSpace(gateway))
        {
            return false;
        }

        if (IPEndPoint.TryParse(gateway, out var endpoint))
        {
            return endpoint.Port != 0;
        }

        var colon = gateway.LastIndexOf(':');
        return colon > 0
            && Uri.CheckHostName(gateway[..colon]) is UriHostNameType.Dns
            && int.TryParse(gateway[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535;
    }
}
