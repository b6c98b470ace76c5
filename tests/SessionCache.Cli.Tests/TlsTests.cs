using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SessionCache.AuthJs;
using SessionCache.Client;

namespace SessionCache.Cli.Tests;

/// <summary>
/// A real silo with <c>Cluster:Tls</c> on, certificates made in this process: who gets in through
/// its gateway (a client with a certificate from the cluster's CA) and who does not (no
/// certificate, another CA's, an expired one, no TLS at all), the CLI included, and a certificate
/// replaced on disk is presented from the next handshake on.
/// </summary>
public sealed class TlsTests : IClassFixture<TlsTests.TlsSilo>
{
    private readonly TlsSilo _silo;

    public TlsTests(TlsSilo silo)
    {
        _silo = silo;
    }

    [Fact]
    public async Task A_client_with_a_certificate_from_the_cluster_CA_looks_sessions_up_and_signs_users_out()
    {
        var cookie = CliCluster.CookieHeader([await _silo.SignInAsync("tls-trusted")]);
        await using var client = await TlsClient.StartAsync(_silo, _silo.Certificates.Issue("trusted-client").Settings(_silo.Certificates.CaBundle));

        var answer = await client.Cache.LookupAsync(SessionRequest.FromCookieHeader(cookie));
        Assert.Equal(SessionLookupStatus.Session, answer.Status);

        await client.Cache.InvalidateUserAsync(answer.UserId!);
        Assert.Equal(SessionLookupStatus.Revoked, (await client.Cache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
    }

    public static TheoryData<string> Refused => ["no certificate", "another CA's certificate", "an expired certificate", "no TLS"];

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task A_client_without_a_trusted_certificate_cannot_connect(string presenting)
    {
        var certificates = _silo.Certificates;
        var settings = presenting switch
        {
            "no certificate" => new Dictionary<string, string?> { ["Cluster:Tls:Enabled"] = "true", ["Cluster:Tls:CaCertificates"] = certificates.CaBundle },
            "another CA's certificate" => certificates.IssueUntrusted("stranger").Settings(certificates.CaBundle),
            "an expired certificate" => certificates.Issue("expired-client", expired: true).Settings(certificates.CaBundle),
            _ => [],
        };

        // The client's start is its connection to the gateway: refused at every attempt, it never
        // completes (or fails), so no grain can be called through it.
        var failure = await Assert.ThrowsAnyAsync<Exception>(async () => await (await TlsClient.StartAsync(_silo, settings, TimeSpan.FromSeconds(10))).DisposeAsync());
        Assert.False(failure is Xunit.Sdk.XunitException, failure.ToString());
    }

    [Fact]
    public async Task A_sign_out_through_the_CLI_without_a_certificate_fails_with_exit_code_3_saying_why()
    {
        var environment = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cluster:Tls:Enabled"] = "true",
            ["Cluster:Tls:CaCertificates"] = _silo.Certificates.CaBundle,
        }).Build();

        var run = await CliCluster.RunCliAsync(["--gateway", _silo.Gateway, "--cluster-id", _silo.ClusterId, "--timeout", "5", "invalidate", "--user", "someone"], environment);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.True(run.Stderr.Contains("TLS", StringComparison.Ordinal), run.ToString());
        Assert.Contains("Cluster:Tls:Certificate", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sign_out_through_the_CLI_with_TLS_off_against_a_TLS_gateway_says_to_turn_it_on()
    {
        var run = await CliCluster.RunCliAsync(["--gateway", _silo.Gateway, "--cluster-id", _silo.ClusterId, "--timeout", "5", "invalidate", "--user", "someone"], CliCluster.EmptyEnvironment);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.True(run.Stderr.Contains("Cluster:Tls", StringComparison.Ordinal), run.ToString());
    }

    [Fact]
    public async Task A_sign_out_through_the_CLI_with_a_trusted_certificate_succeeds()
    {
        var client = _silo.Certificates.Issue("cli");
        var environment = new ConfigurationBuilder().AddInMemoryCollection(client.Settings(_silo.Certificates.CaBundle)).Build();

        var run = await CliCluster.RunCliAsync(["--gateway", _silo.Gateway, "--cluster-id", _silo.ClusterId, "invalidate", "--user", "tls-cli-user"], environment);

        Assert.True(run.ExitCode == 0, run.ToString());
    }

    [Fact]
    public async Task A_certificate_replaced_on_disk_is_presented_from_the_next_handshake_without_a_restart()
    {
        var client = _silo.Certificates.Issue("rotation-probe");
        var before = await _silo.PresentedCertificateAsync(client.Issued);
        Assert.Equal(_silo.Server.Issued.Thumbprint, before.Thumbprint);

        var replacement = _silo.Certificates.Replace(_silo.Server, "silo-rotated");

        // The silo looks at its files at most once a second.
        await Eventually.TrueAsync(
            async () => (await _silo.PresentedCertificateAsync(client.Issued)).Thumbprint == replacement.Thumbprint,
            "the gateway to present the replaced certificate");

        // And the new certificate is one clients trust: they keep connecting.
        var cookie = CliCluster.CookieHeader([await _silo.SignInAsync("tls-rotated")]);
        await using var connected = await TlsClient.StartAsync(_silo, client.Settings(_silo.Certificates.CaBundle));
        Assert.Equal(SessionLookupStatus.Session, (await connected.Cache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
    }

    /// <summary>An external client (AddSessionCacheClient) of the TLS silo with the given settings.</summary>
    private sealed class TlsClient : IAsyncDisposable
    {
        private readonly IHost _host;

        private TlsClient(IHost host)
        {
            _host = host;
        }

        public ISessionCache Cache => _host.Services.GetRequiredService<ISessionCache>();

        public static async Task<TlsClient> StartAsync(TlsSilo silo, Dictionary<string, string?> settings, TimeSpan? startTimeout = null)
        {
            var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>(settings)
            {
                ["Cluster:Gateways:0"] = silo.Gateway,
                ["Cluster:ClusterId"] = silo.ClusterId,
                ["SessionCache:NearCache:Enabled"] = "false",
                ["SessionCache:ReportMetrics"] = "false",
            });
            builder.AddSessionCacheClient();
            var host = builder.Build();
            try
            {
                await host.StartAsync().WaitAsync(startTimeout ?? TimeSpan.FromSeconds(60));
            }
            catch
            {
                host.Dispose();
                throw;
            }

            return new TlsClient(host);
        }

        public async ValueTask DisposeAsync()
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _host.StopAsync(stop.Token);
            }
            catch (OperationCanceledException)
            {
            }

            _host.Dispose();
        }
    }

    /// <summary>A silo in this process with TLS on and client certificates required (the default).</summary>
    public sealed class TlsSilo : IAsyncLifetime
    {
        private WebApplication? _silo;

        public AuthJsServer Auth { get; } = new();

        public TestCertificates Certificates { get; } = new();

        public PemPair Server { get; private set; } = null!;

        public string ClusterId { get; } = "tls-test-" + Guid.NewGuid().ToString("N")[..8];

        public int GatewayPort { get; } = CliCluster.FreePort();

        public string Gateway => $"127.0.0.1:{GatewayPort}";

        public async Task InitializeAsync()
        {
            await Auth.InitializeAsync();
            Server = Certificates.Issue("silo");
            _silo = await CliCluster.StartSiloAsync(CliCluster.FreePort(), GatewayPort, ClusterId, Server.Settings(Certificates.CaBundle));
        }

        public async Task DisposeAsync()
        {
            if (_silo is not null)
            {
                await _silo.StopAsync();
                await _silo.DisposeAsync();
            }

            await Auth.DisposeAsync();
            Certificates.Dispose();
        }

        public async Task<KeyValuePair<string, string>> SignInAsync(string username) =>
            (await Auth.SignInAsync("jwt/auth", username)).Single(static c => c.Key == "authjs.session-token");

        /// <summary>The certificate the gateway presents in a new TLS handshake, made with <paramref name="client"/>.</summary>
        public async Task<X509Certificate2> PresentedCertificateAsync(X509Certificate2 client)
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(System.Net.IPAddress.Loopback, GatewayPort);
            X509Certificate2? presented = null;
            await using var tls = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) =>
            {
                presented = X509CertificateLoader.LoadCertificate(certificate!.GetRawCertData());
                return true;
            });
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "silo",
                ClientCertificates = [client],
                ApplicationProtocols = [new SslApplicationProtocol("Orleans1")],
            });
            return presented!;
        }
    }
}
