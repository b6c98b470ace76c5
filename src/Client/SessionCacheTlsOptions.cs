namespace SessionCache.Client;

/// <summary>
/// Options of the <c>Cluster:Tls</c> section: mutual TLS on the silo and gateway ports, the same
/// keys on silos, co-hosting apps, clients and the CLI. A peer is trusted when its certificate
/// chains to <see cref="CaCertificates"/> or its SHA-256 (or SHA-1) thumbprint is listed in
/// <see cref="Thumbprints"/>, and is within its validity period. Host names are not checked: the
/// CA (or the list) must be dedicated to this cluster. The files are read again when they change,
/// so certificates are replaced without a restart (see docs/operations.md, "Security").
/// </summary>
public sealed class SessionCacheTlsOptions
{
    /// <summary><c>Cluster:Tls:Enabled</c>. Default <see langword="false"/> (the single-silo localhost default).</summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// <c>Cluster:Tls:Certificate</c>: this process' certificate, a PEM file (with
    /// <see cref="PrivateKey"/>, or with the key in the same file) or a PKCS#12 file (<c>.pfx</c>,
    /// <c>.p12</c>). Required on silos; on clients required unless the silos set
    /// <see cref="RequireClientCertificate"/> to <see langword="false"/>.
    /// </summary>
    public string? Certificate { get; set; }

    /// <summary><c>Cluster:Tls:PrivateKey</c>: the PEM private key of <see cref="Certificate"/>, when it is a separate file.</summary>
    public string? PrivateKey { get; set; }

    /// <summary>
    /// <c>Cluster:Tls:Password</c>: the password of a PKCS#12 file or of an encrypted PEM key. Prefer
    /// the environment variable <c>Cluster__Tls__Password</c> to a file or a command line.
    /// </summary>
    public string? Password { get; set; }

    /// <summary><c>Cluster:Tls:CaCertificates</c>: a PEM bundle of the CA certificates peers must chain to.</summary>
    public string? CaCertificates { get; set; }

    /// <summary><c>Cluster:Tls:Thumbprints</c>: peer certificates trusted by thumbprint (hex SHA-256 or SHA-1), besides or instead of a CA.</summary>
    public IList<string> Thumbprints { get; } = [];

    /// <summary>
    /// <c>Cluster:Tls:RequireClientCertificate</c>: whether a silo's gateway refuses clients without
    /// a trusted certificate. Default <see langword="true"/>; silos always require one of each other.
    /// Turned off, anyone who reaches the gateway can call every grain: sign any user out, or
    /// subscribe to sign-outs.
    /// </summary>
    public bool RequireClientCertificate { get; set; } = true;

    /// <summary><c>Cluster:Tls:HandshakeTimeout</c>: how long a TLS handshake may take. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
