using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;

namespace SessionCache.Benchmarks;

/// <summary>
/// One local JWT lookup per call, from a <c>Cookie</c> header to the session, on the token that
/// <c>benchmarks/node/mint.mjs</c> minted with Auth.js' own encode (the same token Node decodes).
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class JwtResolutionBenchmark
{
    private JwtSessionSource _source = null!;
    private SessionRequest _request = null!;

    [GlobalSetup]
    public void Setup()
    {
        var path = Environment.GetEnvironmentVariable("SESSIONCACHE_BENCH_TOKENS") ?? throw new InvalidOperationException("run through benchmarks/run-jwt.sh");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var root = document.RootElement;
        var secrets = root.GetProperty("secrets").EnumerateArray().Select(static s => s.GetString()!).ToArray();
        var options = new SessionCacheOptions { Mode = SessionResolutionMode.Local };
        _source = new JwtSessionSource(options, new AuthJsKeyRing(new AuthJsSecrets(secrets, null)), TimeProvider.System, NullLogger<JwtSessionSource>.Instance);
        _request = SessionRequest.FromCookieHeader($"theme=dark; authjs.session-token={root.GetProperty("token").GetString()}; authjs.callback-url=%2F");
        if (_source.Resolve(_request).Status != SessionLookupStatus.Session)
        {
            throw new InvalidOperationException("the benchmark token does not resolve");
        }
    }

    [Benchmark]
    public SessionLookupResult ResolveJwtSession() => _source.Resolve(_request);
}
