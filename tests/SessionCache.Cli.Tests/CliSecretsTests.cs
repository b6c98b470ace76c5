using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using SessionCache.Hosting;

namespace SessionCache.Cli.Tests;

/// <summary>
/// Secrets off the command line: tokens and the Redis password from standard input (<c>-</c>) or
/// the environment (<c>SESSIONCACHE_TOKEN</c>, <c>SESSIONCACHE_REDIS_PASSWORD</c>), and no
/// exception message, which may quote them, ever printed.
/// </summary>
[Collection(CliClusterCollection.Name)]
public sealed class CliSecretsTests(CliCluster cluster, CliSecretsTests.PasswordRedisSilo redis) : IClassFixture<CliSecretsTests.PasswordRedisSilo>
{
    [Fact]
    public async Task LookupReadsTheTokenFromStandardInput()
    {
        var session = await cluster.SignInAsync("cli-stdin-token");

        var run = await cluster.RunAsync(CliCluster.EmptyEnvironment, session.Value + "\n", "lookup", "--token", "-");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("cli-stdin-token", JsonNode.Parse(run.Stdout)!["user"]!["name"]!.GetValue<string>());
        Assert.DoesNotContain(session.Value, run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LookupReadsTheCookieHeaderFromStandardInput()
    {
        var cookie = CliCluster.CookieHeader([await cluster.SignInAsync("cli-stdin-cookie")]);

        var run = await cluster.RunAsync(CliCluster.EmptyEnvironment, cookie + "; theme=dark\r\n", "lookup", "--cookie", "-");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("cli-stdin-cookie", JsonNode.Parse(run.Stdout)!["user"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task InvalidateReadsTheTokenFromStandardInput()
    {
        var session = await cluster.SignInAsync("cli-stdin-signout");

        var invalidate = await cluster.RunAsync(CliCluster.EmptyEnvironment, session.Value, "invalidate", "--token", "-");

        Assert.True(invalidate.ExitCode == 0, invalidate.ToString());
        Assert.DoesNotContain(session.Value, invalidate.Stderr, StringComparison.Ordinal);
        var lookup = await cluster.RunAsync("lookup", "--token", session.Value);
        Assert.True(lookup.ExitCode == 1, lookup.ToString());
        Assert.Contains("Revoked", lookup.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutATokenOptionTheTokenComesFromSessionCacheToken()
    {
        var session = await cluster.SignInAsync("cli-env-token");
        var environment = Environment(("SESSIONCACHE_TOKEN", session.Value));

        var lookup = await cluster.RunAsync(environment, null, "lookup");
        var invalidate = await cluster.RunAsync(environment, null, "invalidate");
        var after = await cluster.RunAsync(environment, null, "lookup");

        Assert.True(lookup.ExitCode == 0, lookup.ToString());
        Assert.Equal("cli-env-token", JsonNode.Parse(lookup.Stdout)!["user"]!["name"]!.GetValue<string>());
        Assert.True(invalidate.ExitCode == 0, invalidate.ToString());
        Assert.Contains("Signed out the session", invalidate.Stderr, StringComparison.Ordinal);
        Assert.True(after.ExitCode == 1, after.ToString());
        Assert.All(new[] { lookup, invalidate, after }, run => Assert.DoesNotContain(session.Value, run.Stderr, StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnOptionWinsOverSessionCacheToken()
    {
        var session = await cluster.SignInAsync("cli-env-token-overridden");
        var environment = Environment(("SESSIONCACHE_TOKEN", "not-a-session-token"));

        var byToken = await cluster.RunAsync(environment, null, "lookup", "--token", session.Value);
        var byCookie = await cluster.RunAsync(environment, null, "lookup", "--cookie", CliCluster.CookieHeader([session]));
        var byUser = await cluster.RunAsync(environment, null, "invalidate", "--user", "user-cli-nobody");

        Assert.True(byToken.ExitCode == 0, byToken.ToString());
        Assert.True(byCookie.ExitCode == 0, byCookie.ToString());
        Assert.True(byUser.ExitCode == 0, byUser.ToString());
        Assert.Contains("Signed out user 'user-cli-nobody'", byUser.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", new[] { "lookup", "--token", "-" }, "--token - reads the value from standard input, which was empty")]
    [InlineData("\n", new[] { "invalidate", "--token", "-" }, "--token - reads the value from standard input, which was empty")]
    [InlineData("", new[] { "lookup", "--cookie", "-" }, "--cookie - reads the value from standard input, which was empty")]
    [InlineData("token\npassword\n", new[] { "--redis", "127.0.0.1:1", "--redis-password", "-", "lookup", "--token", "-" }, "--token - and --redis-password - both read standard input")]
    [InlineData("password\n", new[] { "--redis-password", "-", "status" }, "--redis-password - is the password of a Redis connection string, and none is given")]
    [InlineData("", new[] { "--redis-password", "hunter2-on-the-command-line", "status" }, "--redis-password takes only '-'")]
    public async Task SecretInputMistakesExitWith2BeforeConnecting(string stdin, string[] args, string expected)
    {
        var run = await CliCluster.RunCliAsync(args, CliCluster.EmptyEnvironment, stdin);

        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains(expected, run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Waiting for the cluster", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, run.Stdout);
    }

    [Fact]
    public async Task TheRedisPasswordFromTheEnvironmentOrStandardInputReachesRedis()
    {
        var where = $"127.0.0.1:{redis.Port}";

        var fromEnvironment = await CliCluster.RunCliAsync(["--redis", where, "--cluster-id", redis.ClusterId, "status", "--json"], Environment(("SESSIONCACHE_REDIS_PASSWORD", PasswordRedisSilo.Password)));
        var fromStandardInput = await CliCluster.RunCliAsync(["--redis", where, "--redis-password", "-", "--cluster-id", redis.ClusterId, "status", "--json"], CliCluster.EmptyEnvironment, PasswordRedisSilo.Password + "\n");

        // Found through Redis: the silo's gateway is listed only there.
        foreach (var run in new[] { fromEnvironment, fromStandardInput })
        {
            Assert.True(run.ExitCode == 0, run.ToString());
            Assert.Equal($"127.0.0.1:{redis.SiloPort}", JsonNode.Parse(run.Stdout)!["silos"]![0]!["address"]!.GetValue<string>());
            Assert.DoesNotContain(PasswordRedisSilo.Password, run.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ARedisPasswordInTheEnvironmentReplacesTheConnectionStringsAndIsNeverPrinted()
    {
        var environment = Environment(
            ("Cluster:Membership", "Redis"),
            ("Cluster:ConnectionString", $"127.0.0.1:{redis.Port},password=an-old-wrong-password"),
            ("Cluster:ClusterId", redis.ClusterId),
            ("SESSIONCACHE_REDIS_PASSWORD", PasswordRedisSilo.Password));

        var run = await CliCluster.RunCliAsync(["status", "--json"], environment);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal($"127.0.0.1:{redis.SiloPort}", JsonNode.Parse(run.Stdout)!["silos"]![0]!["address"]!.GetValue<string>());
    }

    [Fact]
    public async Task AWrongRedisPasswordExits3WithoutPrintingEitherPassword()
    {
        const string Wrong = "not-the-redis-password-42";

        var run = await CliCluster.RunCliAsync(["--redis", $"127.0.0.1:{redis.Port}", "--redis-password", "-", "--cluster-id", redis.ClusterId, "--timeout", "3", "status"], CliCluster.EmptyEnvironment, Wrong);

        Assert.True(run.ExitCode == 3, run.ToString());
        Assert.Contains($"No gateway answered within 3 s at the gateways listed in Redis at 127.0.0.1:{redis.Port}", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(Wrong, run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(PasswordRedisSilo.Password, run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APasswordInTheRedisOptionGetsANoteToKeepItOffTheCommandLine()
    {
        var run = await CliCluster.RunCliAsync(["--redis", $"127.0.0.1:{redis.Port},password={PasswordRedisSilo.Password}", "--cluster-id", redis.ClusterId, "status", "--json"], CliCluster.EmptyEnvironment);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("note: a password in --redis is visible to every user of this machine", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("SESSIONCACHE_REDIS_PASSWORD", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(PasswordRedisSilo.Password, run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void FailuresAreDescribedByTypeAndErrorCodeNeverByMessage()
    {
        var failure = new InvalidOperationException(
            "Could not reach redis-host:6379,password=hunter2-in-a-message",
            new StackExchange.Redis.RedisConnectionException(StackExchange.Redis.ConnectionFailureType.AuthenticationFailure, "password=hunter2-in-a-message",
                new SocketException((int)SocketError.ConnectionRefused)));

        var described = CliFailure.Describe(failure);

        Assert.Equal("InvalidOperationException > RedisConnectionException (AuthenticationFailure) > SocketException (ConnectionRefused)", described);
        // A wrapper of the same type (as Orleans wraps failed connections) is named once.
        Assert.Equal("TimeoutException > SocketException (TimedOut)", CliFailure.Describe(new TimeoutException("x", new TimeoutException("y", new SocketException((int)SocketError.TimedOut)))));
    }

    [Fact]
    public void LogLinesNameTheExceptionByTypeNeverByMessage()
    {
        using var stderr = new StringWriter(CultureInfo.InvariantCulture);
        using var provider = new TextWriterLoggerProvider(stderr);
        var logger = provider.CreateLogger("Orleans.Runtime.Test");

        logger.LogWarning(new StackExchange.Redis.RedisConnectionException(StackExchange.Redis.ConnectionFailureType.UnableToConnect, "redis-host:6379,password=hunter2-in-a-log"), "Redis is unreachable");

        var line = stderr.ToString();
        Assert.Contains("warn: Orleans.Runtime.Test: Redis is unreachable (RedisConnectionException (UnableToConnect))", line, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("redis-host:6379", "redis-host:6379,password=s3cret")]
    [InlineData("redis-host:6379,ssl=true,password=old,abortConnect=false", "redis-host:6379,ssl=true,abortConnect=false,password=s3cret")]
    [InlineData("a:1,b:2, Password = old ", "a:1,b:2,password=s3cret")]
    public void TheRedisPasswordReplacesTheConnectionStringsOwn(string connectionString, string expected)
    {
        Assert.Equal(expected, ClusterSettings.WithPassword(connectionString, new RedisPassword("s3cret", "SESSIONCACHE_REDIS_PASSWORD", Explicit: false)));
    }

    [Fact]
    public void ARedisPasswordWithACommaIsRefusedWithoutBeingQuoted()
    {
        var error = Assert.Throws<CliFailure>(() => ClusterSettings.WithPassword("redis-host:6379", new RedisPassword("a,b-secret", "SESSIONCACHE_REDIS_PASSWORD", Explicit: false)));

        Assert.Equal(2, error.ExitCode);
        Assert.Contains("contains a comma", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("b-secret", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheCliSecretsDoNotReachTheClientsConfiguration()
    {
        var environment = Environment(("SESSIONCACHE_TOKEN", "a-token-for-the-cli"), ("SESSIONCACHE_REDIS_PASSWORD", "a-password-for-the-cli"), ("Cluster:ClusterId", "c"));

        var configuration = ClusterSettings.Build(environment, new GlobalSettings([], null, null, TimeSpan.FromSeconds(1)));

        Assert.Equal("c", configuration["Cluster:ClusterId"]);
        Assert.DoesNotContain(configuration.Values, static value => value is "a-token-for-the-cli" or "a-password-for-the-cli");
    }

    private static IConfiguration Environment(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(static s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build();

    /// <summary>A redis-server that wants a password, and a silo whose membership is in it.</summary>
    public sealed class PasswordRedisSilo : IAsyncLifetime
    {
        public const string Password = "cli-test-redis-password-7f3a";

        private readonly string _directory = Directory.CreateTempSubdirectory("sessioncache-cli-redis-").FullName;
        private Process? _redis;
        private WebApplication? _silo;

        public int Port { get; } = CliCluster.FreePort();

        public int SiloPort { get; } = CliCluster.FreePort();

        public string ClusterId { get; } = "cli-redis-" + Guid.NewGuid().ToString("N");

        public async Task InitializeAsync()
        {
            var start = new ProcessStartInfo(System.Environment.GetEnvironmentVariable("SESSIONCACHE_TEST_REDIS_SERVER") ?? "redis-server")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in new[] { "--bind", "127.0.0.1", "--port", Port.ToString(CultureInfo.InvariantCulture), "--dir", _directory, "--save", string.Empty, "--requirepass", Password })
            {
                start.ArgumentList.Add(argument);
            }

            try
            {
                _redis = Process.Start(start)!;
            }
            catch (System.ComponentModel.Win32Exception exception)
            {
                throw new InvalidOperationException("redis-server is not installed: run the tests with scripts/test.sh, which installs it.", exception);
            }

            _redis.OutputDataReceived += static (_, _) => { };
            _redis.ErrorDataReceived += static (_, _) => { };
            _redis.BeginOutputReadLine();
            _redis.BeginErrorReadLine();
            await WaitForRedisAsync();

            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = ["--urls", "http://127.0.0.1:0"] });
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["SessionCache:Mode"] = "Local",
                ["AUTH_SECRET"] = AuthJsServer.Secret0,
                ["Cluster:Membership"] = "Redis",
                ["Cluster:ConnectionString"] = $"127.0.0.1:{Port},password={Password}",
                ["Cluster:AdvertisedAddress"] = "127.0.0.1",
                ["Cluster:SiloPort"] = SiloPort.ToString(CultureInfo.InvariantCulture),
                ["Cluster:GatewayPort"] = CliCluster.FreePort().ToString(CultureInfo.InvariantCulture),
                ["Cluster:ClusterId"] = ClusterId,
                ["Logging:LogLevel:Default"] = "Warning",
            });
            builder.AddSessionCacheSilo();
            _silo = builder.Build();
            _silo.MapSessionCacheEndpoints();
            await _silo.StartAsync();
        }

        public async Task DisposeAsync()
        {
            if (_silo is not null)
            {
                await _silo.StopAsync();
                await _silo.DisposeAsync();
            }

            if (_redis is { HasExited: false })
            {
                _redis.Kill();
                await _redis.WaitForExitAsync();
            }

            _redis?.Dispose();
            Directory.Delete(_directory, recursive: true);
        }

        /// <summary>Until redis-server answers, with NOAUTH before anyone has given the password.</summary>
        private async Task WaitForRedisAsync()
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (true)
            {
                try
                {
                    using var client = new TcpClient();
                    await client.ConnectAsync("127.0.0.1", Port);
                    var stream = client.GetStream();
                    await stream.WriteAsync("PING\r\n"u8.ToArray());
                    var buffer = new byte[64];
                    var read = await stream.ReadAsync(buffer);
                    if (Encoding.ASCII.GetString(buffer, 0, read).StartsWith("-NOAUTH", StringComparison.Ordinal))
                    {
                        return;
                    }
                }
                catch (Exception exception) when (exception is SocketException or IOException)
                {
                    // Not listening yet.
                }

                Assert.True(DateTime.UtcNow < deadline, $"redis-server never answered on port {Port}");
                await Task.Delay(100);
            }
        }
    }
}
