using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SessionCache.TestSupport;

/// <summary>
/// Certificates made in-process for the TLS tests, written as PEM files into a temporary folder:
/// the cluster's CA, certificates it issued (valid or expired) and ones from a CA nobody trusts.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly X509Certificate2 _ca;
    private readonly X509Certificate2 _strangerCa;

    public TestCertificates()
    {
        Directory.CreateDirectory(Folder);
        _ca = CreateAuthority("session-cache test CA");
        _strangerCa = CreateAuthority("someone else's CA");
        CaBundle = Path.Combine(Folder, "ca.pem");
        File.WriteAllText(CaBundle, _ca.ExportCertificatePem());
    }

    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "sessioncache-tls-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>The CA bundle every process trusts.</summary>
    public string CaBundle { get; }

    /// <summary>A certificate issued by the cluster's CA, valid now unless <paramref name="expired"/>.</summary>
    public PemPair Issue(string name, bool expired = false) => Write(name, Sign(_ca, name, expired));

    /// <summary>A certificate from a CA the cluster does not trust.</summary>
    public PemPair IssueUntrusted(string name) => Write(name, Sign(_strangerCa, name, expired: false));

    /// <summary>Writes a new certificate for <paramref name="name"/> over <paramref name="pair"/>'s files, as a rotation does.</summary>
    public X509Certificate2 Replace(PemPair pair, string name)
    {
        var certificate = Sign(_ca, name, expired: false);
        WriteFiles(pair, certificate);
        return certificate;
    }

    public void Dispose()
    {
        _ca.Dispose();
        _strangerCa.Dispose();
        Directory.Delete(Folder, recursive: true);
    }

    private static X509Certificate2 CreateAuthority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddYears(1));
    }

    private static X509Certificate2 Sign(X509Certificate2 authority, string name, bool expired)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var subjectNames = new SubjectAlternativeNameBuilder();
        subjectNames.AddDnsName(name);
        subjectNames.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(subjectNames.Build());
        var notBefore = expired ? DateTimeOffset.UtcNow.AddDays(-10) : DateTimeOffset.UtcNow.AddMinutes(-5);
        var notAfter = expired ? DateTimeOffset.UtcNow.AddDays(-1) : DateTimeOffset.UtcNow.AddDays(30);
        var serial = RandomNumberGenerator.GetBytes(16);
        using var issued = request.Create(authority, notBefore, notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    private PemPair Write(string name, X509Certificate2 certificate)
    {
        var pair = new PemPair(
            Path.Combine(Folder, name + "-" + Guid.NewGuid().ToString("N")[..6] + ".pem"),
            Path.Combine(Folder, name + "-" + Guid.NewGuid().ToString("N")[..6] + ".key"),
            certificate);
        WriteFiles(pair, certificate);
        return pair;
    }

    private static void WriteFiles(PemPair pair, X509Certificate2 certificate)
    {
        File.WriteAllText(pair.Key, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(pair.Certificate, certificate.ExportCertificatePem());
    }
}

/// <summary>A certificate's PEM file and its key's, and the certificate as first written.</summary>
public sealed record PemPair(string Certificate, string Key, X509Certificate2 Issued)
{
    /// <summary>The configuration keys that make a process present this certificate and trust <paramref name="caBundle"/>.</summary>
    public Dictionary<string, string?> Settings(string caBundle, string separator = ":") => new()
    {
        [$"Cluster{separator}Tls{separator}Enabled"] = "true",
        [$"Cluster{separator}Tls{separator}Certificate"] = Certificate,
        [$"Cluster{separator}Tls{separator}PrivateKey"] = Key,
        [$"Cluster{separator}Tls{separator}CaCertificates"] = caBundle,
    };
}
