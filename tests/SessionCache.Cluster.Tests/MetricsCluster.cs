using System.Buffers.Text;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Client;
using SessionCache.Client.Internals;
using SessionCache.Hosting;

namespace SessionCache.Cluster.Tests;

/// <summary>
/// Two silos and a client in process, local JWT mode with a secret of its own, for the metrics
/// tests: its tokens are minted here (<see cref="LocalJwt"/>), so it needs no Node, and nothing
/// else runs on it, so that counts move only with what a test does.
/// </summary>
public sealed class MetricsCluster : IAsyncLifetime
{
    public const string Secret = "metrics-test-secret-0123456789abcdef0123";
    public const int SiloCount = 2;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public IReadOnlyList<IServiceProvider> SiloServices { get; private set; } = [];

    public IReadOnlyList<ISessionCache> SiloCaches { get; private set; } = [];

    public IServiceProvider ClientServices { get; private set; } = null!;

    public ISessionCache ClientCache { get; private set; } = null!;

    /// <summary>How each process names itself to the stats grain: silo i, then the client.</summary>
    public IReadOnlyList<string> ProcessNames { get; private set; } = [];

    public string ClientName => ProcessNames[^1];

    public async Task InitializeAsync()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["SessionCache:Mode"] = "Local",
            ["SessionCache:Strategy"] = "Jwt",
            ["SessionCache:MaxCacheAge"] = "00:05:00",
            ["SessionCache:NegativeCacheAge"] = "00:00:02",
            ["AUTH_SECRET"] = Secret,
        }).Build();

        var builder = new InProcessTestClusterBuilder(SiloCount);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorageAsDefault();
            silo.AddSessionCache(configuration);
        });
        builder.ConfigureClientHost(client => client.Services.AddClusterSessionCache(configuration));
        Cluster = builder.Build();
        await Cluster.DeployAsync();

        SiloServices = [.. Cluster.Silos.Select(static s => s.ServiceProvider)];
        SiloCaches = [.. SiloServices.Select(static sp => sp.GetRequiredService<ISessionCache>())];
        ClientServices = Cluster.Client.ServiceProvider;
        ClientCache = ClientServices.GetRequiredService<ISessionCache>();
        ProcessNames = [.. SiloServices.Append(ClientServices).Select(static sp => sp.GetRequiredService<MetricsProcessIdentity>().Process)];

        // Near caches serve only under a lease: wait for every process to hold one.
        var near = SiloServices.Append(ClientServices).Select(static sp => sp.GetRequiredService<NearCache>()).ToList();
        await Eventually.TrueAsync(() => near.All(static c => c.IsLeaseValid), "every process subscribed to invalidations");
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }

    /// <summary>Every process' services: silo 0, silo 1, then the client, named as <see cref="ProcessNames"/>.</summary>
    public IEnumerable<(string Name, IServiceProvider Services)> Processes =>
        SiloServices.Append(ClientServices).Select((sp, i) => (ProcessNames[i], sp));

    /// <summary>A listener on the <c>SessionCache</c> meter of each process of this cluster.</summary>
    public SessionCacheMeterReader ReadMeters() => new(Processes);

    /// <summary>A valid session token of a fresh user: an Auth.js v5 JWT an hour long.</summary>
    public static string NewToken(string userId) =>
        LocalJwt.Mint(Secret, userId, TimeSpan.FromHours(1));

    public static string CookieOf(string token) => "authjs.session-token=" + token;
}

[CollectionDefinition(Name)]
public sealed class MetricsClusterCollection : ICollectionFixture<MetricsCluster>
{
    public const string Name = "Metrics cluster";
}

/// <summary>Mints Auth.js v5 session tokens as Auth.js' <c>encode</c> does: <c>dir</c>, <c>A256GCM</c>, HKDF key, JWK thumbprint kid.</summary>
public static class LocalJwt
{
    public static string Mint(string secret, string userId, TimeSpan lifetime, string salt = "authjs.session-token")
    {
        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32, Encoding.UTF8.GetBytes(salt), Encoding.UTF8.GetBytes($"Auth.js Generated Encryption Key ({salt})"));
        var jwk = Encoding.UTF8.GetBytes($"{{\"k\":\"{Base64Url.EncodeToString(key)}\",\"kty\":\"oct\"}}");
        var header = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new { alg = "dir", enc = "A256GCM", kid = Base64Url.EncodeToString(SHA256.HashData(jwk)) }));
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var claims = JsonSerializer.SerializeToUtf8Bytes(new
        {
            name = userId,
            email = userId + "@example.test",
            sub = userId,
            iat = now,
            exp = now + (long)lifetime.TotalSeconds,
            jti = Guid.NewGuid().ToString(),
        });
        var iv = RandomNumberGenerator.GetBytes(12);
        var ciphertext = new byte[claims.Length];
        var tag = new byte[16];
        using (var gcm = new AesGcm(key, tag.Length))
        {
            gcm.Encrypt(iv, claims, ciphertext, tag, Encoding.ASCII.GetBytes(header));
        }

        return $"{header}..{Base64Url.EncodeToString(iv)}.{Base64Url.EncodeToString(ciphertext)}.{Base64Url.EncodeToString(tag)}";
    }
}

/// <summary>
/// Reads the <c>SessionCache</c> meter the way <c>dotnet-counters</c> and OpenTelemetry do, with a
/// <see cref="MeterListener"/>. Every host in this test process has a meter of that name (each
/// made by its own <see cref="IMeterFactory"/>); a meter is told apart by its scope, the factory.
/// </summary>
public sealed class SessionCacheMeterReader : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Dictionary<object, string> _processByScope = new(ReferenceEqualityComparer.Instance);
    private readonly object _gate = new();
    private readonly Dictionary<(string Process, string Instrument, string Tags), long> _observed = [];
    private readonly List<(string Process, string Instrument, double Value)> _recorded = [];
    private readonly List<Instrument> _instruments = [];

    public SessionCacheMeterReader(IEnumerable<(string Name, IServiceProvider Services)> processes)
    {
        foreach (var (name, services) in processes)
        {
            _processByScope.Add(services.GetRequiredService<IMeterFactory>(), name);
        }

        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == SessionCacheMetrics.MeterName && instrument.Meter.Scope is { } scope
                && _processByScope.TryGetValue(scope, out var process))
            {
                lock (_gate)
                {
                    _instruments.Add(instrument);
                }

                listener.EnableMeasurementEvents(instrument, process);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, state) =>
        {
            lock (_gate)
            {
                _observed[((string)state!, instrument.Name, Format(tags))] = value;
            }
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, state) =>
        {
            lock (_gate)
            {
                _recorded.Add(((string)state!, instrument.Name, value));
            }
        });
        _listener.Start();
    }

    /// <summary>The <c>SessionCache</c> instruments published by the processes, by process.</summary>
    public IReadOnlyList<Instrument> Instruments
    {
        get
        {
            lock (_gate)
            {
                return [.. _instruments];
            }
        }
    }

    /// <summary>Reads every observable instrument now, as an exporter's collection does.</summary>
    public MeterSnapshot Snapshot()
    {
        lock (_gate)
        {
            _observed.Clear();
            _listener.RecordObservableInstruments();
            return new MeterSnapshot(new Dictionary<(string, string, string), long>(_observed));
        }
    }

    /// <summary>The values recorded so far on a histogram by one process, in order.</summary>
    public IReadOnlyList<double> Recorded(string process, string instrument)
    {
        lock (_gate)
        {
            return [.. _recorded.Where(r => r.Process == process && r.Instrument == instrument).Select(static r => r.Value)];
        }
    }

    public void Dispose() => _listener.Dispose();

    private static string Format(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var parts = new List<string>();
        foreach (var tag in tags)
        {
            parts.Add($"{tag.Key}={tag.Value}");
        }

        parts.Sort(StringComparer.Ordinal);
        return string.Join(",", parts);
    }
}

/// <summary>The values of the observable instruments at one collection.</summary>
public sealed class MeterSnapshot(Dictionary<(string Process, string Instrument, string Tags), long> values)
{
    /// <summary>One process' value of an instrument (and tag, e.g. <c>sessioncache.cache=near</c>); fails if it was not observed.</summary>
    public long Of(string process, string instrument, string tags = "")
    {
        Assert.True(values.TryGetValue((process, instrument, tags), out var value), $"{instrument}{{{tags}}} was not observed for {process}; observed: {string.Join("; ", values.Keys)}");
        return value;
    }

    /// <summary>How much an instrument moved since <paramref name="before"/>, in one process.</summary>
    public long Delta(MeterSnapshot before, string process, string instrument, string tags = "") =>
        Of(process, instrument, tags) - before.Of(process, instrument, tags);

    /// <summary>How much an instrument moved since <paramref name="before"/>, summed over processes.</summary>
    public long Delta(MeterSnapshot before, IEnumerable<string> processes, string instrument, string tags = "") =>
        processes.Sum(p => Delta(before, p, instrument, tags));
}
