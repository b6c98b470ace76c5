using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Connections.Security;
using SessionCache.AuthJs;

namespace SessionCache.Client.Internals;

/// <summary>
/// This process' TLS certificate and the peers it trusts (<c>Cluster:Tls</c>), read from files and
/// read again when they change, so that a certificate or CA bundle replaced on disk is used from
/// the next handshake on, without a restart. Connections already open keep their session.
/// </summary>
internal sealed partial class ClusterTls
{
    private const string Prefix = SessionCacheClusterOptions.SectionName + ":Tls:";

    // A handshake looks at the files at most this often; connections are long-lived, so this is rare.
    private static readonly TimeSpan ReloadCheckEvery = TimeSpan.FromSeconds(1);

    private readonly SessionCacheTlsOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly Lock _reloadLock = new();
    private Material _material;
    private long _checkedAt;

    private ClusterTls(SessionCacheTlsOptions options, TimeProvider clock, ILogger logger, Material material)
    {
        _options = options;
        _clock = clock;
        _logger = logger;
        _material = material;
        _checkedAt = clock.GetTimestamp();
    }

    /// <summary>Reads the files; a problem is reported naming the key and the file.</summary>
    /// <exception cref="InvalidOperationException">A file is missing or is not what its key says.</exception>
    public static ClusterTls Load(SessionCacheTlsOptions options, TimeProvider clock, ILogger logger) =>
        new(options, clock, logger, Material.Read(options));

    /// <summary>
    /// Registers this process' TLS material, read once the options are validated (at start), so
    /// that a mistake is reported by the validator naming the key, not by a handshake.
    /// </summary>
    public static IServiceCollection AddClusterTls(IServiceCollection services)
    {
        services.TryAddSingleton(static sp => Load(
            sp.GetRequiredService<IOptions<SessionCacheClusterOptions>>().Value.Tls,
            SessionCacheClock.Get(sp),
            sp.GetRequiredService<ILogger<ClusterTls>>()));
        return services;
    }

    /// <summary>What is wrong with the files, or <see langword="null"/>; for start-up validation.</summary>
    public static string? Problem(SessionCacheTlsOptions options)
    {
        try
        {
            Material.Read(options);
            return null;
        }
        catch (InvalidOperationException exception)
        {
            return exception.Message;
        }
    }

    /// <summary>This process' certificate, or <see langword="null"/> for a client configured without one.</summary>
    public X509Certificate2? Certificate => Current.Certificate;

    /// <summary>
    /// Orleans' TLS options for one direction. <paramref name="requirePeerCertificate"/> is whether
    /// the other side must present a certificate (always, except towards a client when the silos
    /// allow clients without one).
    /// </summary>
    public TlsOptions CreateOptions(bool requirePeerCertificate)
    {
        var options = new TlsOptions
        {
            RemoteCertificateMode = requirePeerCertificate ? RemoteCertificateMode.RequireCertificate : RemoteCertificateMode.AllowCertificate,
            ClientCertificateMode = RemoteCertificateMode.AllowCertificate,
            RemoteCertificateValidation = IsTrusted,
            HandshakeTimeout = _options.HandshakeTimeout,
        };

        if (Certificate is not null)
        {
            options.LocalServerCertificateSelector = (ConnectionContext _, string? _) => Certificate!;
            options.LocalClientCertificateSelector = (_, _, _, _, _) => Certificate;
        }

        return options;
    }

    /// <summary>
    /// Whether a peer is one of ours: within its validity period, and listed by thumbprint or
    /// chaining to the configured CA. The platform's own verdict (<paramref name="errors"/>) is not
    /// used: the CA is not in the system store, and silos are reached by address, not by name.
    /// </summary>
    private bool IsTrusted(X509Certificate2 peer, X509Chain? presented, SslPolicyErrors errors)
    {
        var material = Current;
        var now = _clock.GetUtcNow();
        if (now < peer.NotBefore.ToUniversalTime() || now > peer.NotAfter.ToUniversalTime())
        {
            LogPeerRefused(_logger, Fingerprint(peer), "its certificate is expired or not yet valid");
            return false;
        }

        if (material.Thumbprints.Contains(peer.GetCertHashString(HashAlgorithmName.SHA256)) || material.Thumbprints.Contains(peer.GetCertHashString(HashAlgorithmName.SHA1)))
        {
            return true;
        }

        if (material.Authorities.Count > 0)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(material.Authorities);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.VerificationTime = now.UtcDateTime;
            chain.ChainPolicy.VerificationTimeIgnored = false;
            if (presented is not null)
            {
                foreach (var element in presented.ChainElements)
                {
                    chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            if (chain.Build(peer))
            {
                return true;
            }
        }

        LogPeerRefused(_logger, Fingerprint(peer), "its certificate does not chain to Cluster:Tls:CaCertificates and its thumbprint is not in Cluster:Tls:Thumbprints");
        return false;
    }

    private static string Fingerprint(X509Certificate2 certificate) => certificate.GetCertHashString(HashAlgorithmName.SHA256)[..16];

    /// <summary>The material, read again if a file changed since it was read (checked at most every second).</summary>
    private Material Current
    {
        get
        {
            var material = Volatile.Read(ref _material);
            var now = _clock.GetTimestamp();
            if (_clock.GetElapsedTime(Interlocked.Read(ref _checkedAt), now) < ReloadCheckEvery)
            {
                return material;
            }

            lock (_reloadLock)
            {
                Interlocked.Exchange(ref _checkedAt, now);
                if (!material.HasChanged(_options))
                {
                    return material;
                }

                try
                {
                    var fresh = Material.Read(_options);
                    Volatile.Write(ref _material, fresh);
                    LogReloaded(_logger, Fingerprint(fresh.Certificate ?? material.Certificate!));
                    return fresh;
                }
                catch (InvalidOperationException exception)
                {
                    // Half-written files (a rotation in progress): keep what works, try again later.
                    LogReloadFailed(_logger, exception.Message);
                    return material;
                }
            }
        }
    }

    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning, Message = "TLS peer {Fingerprint} refused: {Reason}")]
    private static partial void LogPeerRefused(ILogger logger, string fingerprint, string reason);

    [LoggerMessage(EventId = 3202, Level = LogLevel.Information, Message = "TLS certificates read again after a change; this process now presents {Fingerprint}")]
    private static partial void LogReloaded(ILogger logger, string fingerprint);

    [LoggerMessage(EventId = 3203, Level = LogLevel.Warning, Message = "TLS certificates changed on disk but cannot be read ({Reason}); still using the previous ones")]
    private static partial void LogReloadFailed(ILogger logger, string reason);

    /// <summary>What the files held when read, and how to tell that they changed.</summary>
    private sealed class Material
    {
        private Material(X509Certificate2? certificate, X509Certificate2Collection authorities, HashSet<string> thumbprints, string stamp)
        {
            Certificate = certificate;
            Authorities = authorities;
            Thumbprints = thumbprints;
            Stamp = stamp;
        }

        public X509Certificate2? Certificate { get; }

        public X509Certificate2Collection Authorities { get; }

        public HashSet<string> Thumbprints { get; }

        private string Stamp { get; }

        public bool HasChanged(SessionCacheTlsOptions options) => !string.Equals(StampOf(options), Stamp, StringComparison.Ordinal);

        public static Material Read(SessionCacheTlsOptions options)
        {
            var stamp = StampOf(options);
            var certificate = string.IsNullOrWhiteSpace(options.Certificate) ? null : ReadCertificate(options);
            var authorities = new X509Certificate2Collection();
            if (!string.IsNullOrWhiteSpace(options.CaCertificates))
            {
                try
                {
                    authorities.ImportFromPemFile(options.CaCertificates);
                }
                catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or CryptographicException)
                {
                    throw new InvalidOperationException($"{Prefix}CaCertificates '{options.CaCertificates}' cannot be read as a PEM bundle of certificates: {Describe(exception)}.", exception);
                }

                if (authorities.Count == 0)
                {
                    throw new InvalidOperationException($"{Prefix}CaCertificates '{options.CaCertificates}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
                }
            }

            var thumbprints = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var thumbprint in options.Thumbprints)
            {
                var hex = thumbprint?.Replace(":", string.Empty, StringComparison.Ordinal).Trim() ?? string.Empty;
                if (hex.Length is not (40 or 64) || !hex.All(Uri.IsHexDigit))
                {
                    throw new InvalidOperationException($"{Prefix}Thumbprints contains '{thumbprint}'; expected the hex SHA-256 (64 digits) or SHA-1 (40 digits) of a certificate.");
                }

                thumbprints.Add(hex);
            }

            if (authorities.Count == 0 && thumbprints.Count == 0)
            {
                throw new InvalidOperationException($"{Prefix}Enabled=true needs {Prefix}CaCertificates (a PEM bundle peers must chain to) or {Prefix}Thumbprints (the peers' certificate thumbprints): otherwise no peer could be trusted.");
            }

            return new Material(certificate, authorities, thumbprints, stamp);
        }

        private static X509Certificate2 ReadCertificate(SessionCacheTlsOptions options)
        {
            var path = options.Certificate!;
            X509Certificate2 certificate;
            try
            {
                var extension = Path.GetExtension(path);
                if (extension.Equals(".pfx", StringComparison.OrdinalIgnoreCase) || extension.Equals(".p12", StringComparison.OrdinalIgnoreCase))
                {
                    certificate = X509CertificateLoader.LoadPkcs12FromFile(path, options.Password, X509KeyStorageFlags.EphemeralKeySet);
                }
                else if (string.IsNullOrEmpty(options.Password))
                {
                    certificate = X509Certificate2.CreateFromPemFile(path, string.IsNullOrWhiteSpace(options.PrivateKey) ? null : options.PrivateKey);
                }
                else
                {
                    certificate = X509Certificate2.CreateFromEncryptedPemFile(path, options.Password, string.IsNullOrWhiteSpace(options.PrivateKey) ? null : options.PrivateKey);
                }
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                throw new InvalidOperationException($"{Prefix}Certificate '{path}' (key: {(string.IsNullOrWhiteSpace(options.PrivateKey) ? "in the same file" : $"{Prefix}PrivateKey '{options.PrivateKey}'")}) cannot be read as a certificate with its private key, PEM or PKCS#12 (.pfx/.p12): {Describe(exception)}.", exception);
            }

            if (!certificate.HasPrivateKey)
            {
                throw new InvalidOperationException($"{Prefix}Certificate '{path}' has no private key; give it in the same file or in {Prefix}PrivateKey.");
            }

            return certificate;
        }

        // The exception's type and, for file errors, its message (a path, never a key or password).
        private static string Describe(Exception exception) =>
            exception is IOException or UnauthorizedAccessException ? exception.Message : exception.GetType().Name;

        private static string StampOf(SessionCacheTlsOptions options)
        {
            static string Of(string? path) =>
                string.IsNullOrWhiteSpace(path) || !File.Exists(path) ? "-" : $"{File.GetLastWriteTimeUtc(path).Ticks}/{new FileInfo(path).Length}";

            return string.Join('|', Of(options.Certificate), Of(options.PrivateKey), Of(options.CaCertificates));
        }
    }
}
