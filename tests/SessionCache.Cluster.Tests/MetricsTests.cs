using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;

namespace SessionCache.Cluster.Tests;

/// <summary>
/// The <c>SessionCache</c> meter as <c>dotnet-counters</c> or OpenTelemetry read it: what each
/// process counts for lookups, hits, misses, cached sessions, sign-outs and latency.
/// </summary>
[Collection(MetricsClusterCollection.Name)]
public sealed class MetricsTests(MetricsCluster cluster)
{
    private const string Lookups = "sessioncache.lookups";
    private const string Hits = "sessioncache.hits";
    private const string Misses = "sessioncache.misses";
    private const string UpstreamCalls = "sessioncache.upstream.calls";
    private const string Invalidations = "sessioncache.invalidations";
    private const string LiveSessions = "sessioncache.sessions.live";
    private const string Duration = "sessioncache.lookup.duration";
    private const string Near = "sessioncache.cache=near";
    private const string Grain = "sessioncache.cache=grain";
    private const string UserScope = "sessioncache.scope=user";
    private const string SessionScope = "sessioncache.scope=session";

    private IReadOnlyList<string> Silos => cluster.ProcessNames.Take(MetricsCluster.SiloCount).ToList();

    private string Client => cluster.ClientName;

    [Fact]
    public void EveryProcessPublishesTheInstrumentsOnItsOwnSessionCacheMeter()
    {
        using var meters = cluster.ReadMeters();

        var byProcess = meters.Instruments.GroupBy(static i => i.Meter.Scope).ToList();
        Assert.Equal(MetricsCluster.SiloCount + 1, byProcess.Count);
        foreach (var instruments in byProcess)
        {
            Assert.Equal(
                new[] { Duration, Hits, Invalidations, Lookups, Misses, LiveSessions, "sessioncache.upstream.calls", "sessioncache.upstream.errors", "sessioncache.failsafe" }.Order(StringComparer.Ordinal),
                instruments.Select(static i => i.Name).Order(StringComparer.Ordinal));
            Assert.Equal("s", instruments.Single(static i => i.Name == Duration).Unit);
            Assert.IsType<Histogram<double>>(instruments.Single(static i => i.Name == Duration));
            Assert.IsType<ObservableUpDownCounter<long>>(instruments.Single(static i => i.Name == LiveSessions));
            Assert.IsType<ObservableCounter<long>>(instruments.Single(static i => i.Name == Lookups));
        }
    }

    [Fact]
    public async Task LookupsOfOneSessionCountOneMissAndTheRestAsNearOrGrainHits()
    {
        var cookie = MetricsCluster.CookieOf(MetricsCluster.NewToken("metrics-hits"));
        using var meters = cluster.ReadMeters();
        var before = meters.Snapshot();
        const int n = 25;

        for (var i = 0; i < n; i++)
        {
            Assert.Equal(SessionLookupStatus.Session, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
        }

        // The client: every lookup counted, the first went to the cluster, the rest were near hits.
        var afterClient = meters.Snapshot();
        Assert.Equal(n, afterClient.Delta(before, Client, Lookups));
        Assert.Equal(n - 1, afterClient.Delta(before, Client, Hits, Near));
        Assert.Equal(0, afterClient.Delta(before, Client, Hits, Grain));
        Assert.Equal(0, afterClient.Delta(before, Client, Misses));

        // The silos: the one resolution is the only miss; no silo counted a lookup of its own.
        Assert.Equal(1, afterClient.Delta(before, Silos, Misses));
        Assert.Equal(0, afterClient.Delta(before, Silos, Hits, Grain));
        Assert.Equal(0, afterClient.Delta(before, Silos, Hits, Near));
        Assert.Equal(0, afterClient.Delta(before, Silos, Lookups));

        // Local JWT mode decrypts in process: nothing went upstream.
        Assert.Equal(0, afterClient.Delta(before, [.. Silos, Client], UpstreamCalls));

        // A second process asks for the same session: its first lookup is a hit in the session grain.
        const int m = 10;
        for (var i = 0; i < m; i++)
        {
            Assert.Equal(SessionLookupStatus.Session, (await cluster.SiloCaches[1].LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
        }

        var afterSilo = meters.Snapshot();
        Assert.Equal(m, afterSilo.Delta(afterClient, Silos[1], Lookups));
        Assert.Equal(m - 1, afterSilo.Delta(afterClient, Silos[1], Hits, Near));
        Assert.Equal(1, afterSilo.Delta(afterClient, Silos, Hits, Grain));
        Assert.Equal(0, afterSilo.Delta(afterClient, Silos, Misses));
        Assert.Equal(0, afterSilo.Delta(afterClient, Client, Lookups));
        Assert.Equal(0, afterSilo.Delta(afterClient, Silos[0], Lookups));
    }

    [Fact]
    public async Task EveryLookupRecordsOnePositiveDurationInTheProcessThatAnsweredIt()
    {
        var cookie = MetricsCluster.CookieOf(MetricsCluster.NewToken("metrics-duration"));
        using var meters = cluster.ReadMeters();
        const int n = 30;

        for (var i = 0; i < n; i++)
        {
            await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie));
        }

        // Also the answers given without asking the cluster: no cookie, garbage.
        await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader("theme=dark"));
        await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=garbage"));

        var durations = meters.Recorded(Client, Duration);
        Assert.Equal(n + 2, durations.Count);
        Assert.All(durations, static d => Assert.InRange(d, double.Epsilon, 30));

        // The first lookup crossed to a silo; the near hits after it stayed in the client's memory.
        Assert.True(durations[0] > durations.Skip(1).Take(n - 1).Min(), $"the cluster round trip ({durations[0]} s) was not slower than every near hit");
        Assert.All(Silos, s => Assert.Empty(meters.Recorded(s, Duration)));
    }

    [Fact]
    public async Task ACachedSessionIsLiveOnTheSiloHoldingItUntilItIsSignedOut()
    {
        var token = MetricsCluster.NewToken("metrics-live-session");
        using var meters = cluster.ReadMeters();
        var before = meters.Snapshot();

        Assert.Equal(SessionLookupStatus.Session, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(MetricsCluster.CookieOf(token)))).Status);

        var cached = meters.Snapshot();
        Assert.Equal(1, cached.Delta(before, Silos, LiveSessions));
        Assert.Single(Silos, s => cached.Delta(before, s, LiveSessions) == 1);
        Assert.Equal(0, cached.Delta(before, Client, LiveSessions));

        // Negative answers are cached too, but are not live sessions.
        await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader("authjs.session-token=garbage-live"));
        Assert.Equal(1, meters.Snapshot().Delta(before, Silos, LiveSessions));

        await cluster.ClientCache.InvalidateSessionAsync(token);
        await Eventually.TrueAsync(() => meters.Snapshot().Delta(before, Silos, LiveSessions) == 0, "the signed-out session no longer live", timeoutSeconds: 10);
    }

    [Fact]
    public async Task ACachedSessionStopsBeingLiveWhenItsUserIsSignedOut()
    {
        const string user = "metrics-live-user";
        using var meters = cluster.ReadMeters();
        var before = meters.Snapshot();

        // Two sessions of the user, cached on whichever silos hold them.
        Assert.Equal(SessionLookupStatus.Session, (await cluster.SiloCaches[0].LookupAsync(SessionRequest.FromCookieHeader(MetricsCluster.CookieOf(MetricsCluster.NewToken(user))))).Status);
        Assert.Equal(SessionLookupStatus.Session, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(MetricsCluster.CookieOf(MetricsCluster.NewToken(user))))).Status);
        Assert.Equal(2, meters.Snapshot().Delta(before, Silos, LiveSessions));

        await cluster.ClientCache.InvalidateUserAsync(user);

        // The user's grain tells the session grains to forget without waiting for them.
        await Eventually.TrueAsync(() => meters.Snapshot().Delta(before, Silos, LiveSessions) == 0, "the user's sessions no longer live", timeoutSeconds: 10);
    }

    [Fact]
    public async Task SigningAUserOutCountsOneUserInvalidation()
    {
        const string user = "metrics-invalidate-user";
        await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(MetricsCluster.CookieOf(MetricsCluster.NewToken(user))));
        using var meters = cluster.ReadMeters();
        var before = meters.Snapshot();

        await cluster.ClientCache.InvalidateUserAsync(user);

        var after = meters.Snapshot();
        Assert.Equal(1, after.Delta(before, Silos, Invalidations, UserScope));
        Assert.Equal(0, after.Delta(before, Silos, Invalidations, SessionScope));

        // Counted by the grain that carried it out, on a silo: not by the client that asked.
        Assert.Equal(0, after.Delta(before, Client, Invalidations, UserScope));

        // A user nobody has seen is signed out all the same (idempotent): counted too.
        await cluster.SiloCaches[0].InvalidateUserAsync("metrics-nobody-has-seen");
        Assert.Equal(2, meters.Snapshot().Delta(before, Silos, Invalidations, UserScope));
    }

    [Fact]
    public async Task SigningOneSessionOutCountsASessionInvalidationNotAUserOne()
    {
        var token = MetricsCluster.NewToken("metrics-invalidate-session");
        await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(MetricsCluster.CookieOf(token)));
        using var meters = cluster.ReadMeters();
        var before = meters.Snapshot();

        await cluster.ClientCache.InvalidateSessionAsync(token);

        var after = meters.Snapshot();
        Assert.Equal(0, after.Delta(before, Silos, Invalidations, UserScope));
        Assert.True(after.Delta(before, Silos, Invalidations, SessionScope) >= 1, "no session invalidation counted");
        Assert.Equal(0, after.Delta(before, Client, Invalidations, SessionScope));
        Assert.Equal(SessionLookupStatus.Revoked, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(MetricsCluster.CookieOf(token)))).Status);
    }

    [Fact]
    public async Task SigningOneSessionOutCountsOneSessionInvalidationNotOnePerCookieName()
    {
        var token = MetricsCluster.NewToken("metrics-invalidate-session-once");
        await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(MetricsCluster.CookieOf(token)));
        using var meters = cluster.ReadMeters();
        var before = meters.Snapshot();

        // The client revokes the token under each of the four standard cookie names (it cannot
        // tell which one carried it); only one of them is a session, and one sign-out happened.
        await cluster.ClientCache.InvalidateSessionAsync(token);

        Assert.Equal(1, meters.Snapshot().Delta(before, Silos, Invalidations, SessionScope));
    }
}

/// <summary>Proxy mode's upstream calls and errors, counted where sessions are resolved.</summary>
public sealed class UpstreamMetricsTests
{
    private const string Calls = "sessioncache.upstream.calls";
    private const string Errors = "sessioncache.upstream.errors";

    [Fact]
    public async Task ProxyModeCountsEveryResolutionSentUpstreamAndEveryFailure()
    {
        await using var upstream = await SwitchableUpstream.StartAsync();
        using var services = Resolver(upstream.BaseAddress);
        var resolver = services.GetRequiredService<ISessionResolver>();
        using var meters = new SessionCacheMeterReader([("resolver", services)]);
        var before = meters.Snapshot();
        var request = SessionRequest.FromCookieHeader("authjs.session-token=abc");

        const int failures = 3;
        for (var i = 0; i < failures; i++)
        {
            Assert.Equal(SessionLookupStatus.UpstreamError, (await resolver.LookupAsync(request)).Status);
        }

        var failed = meters.Snapshot();
        Assert.Equal(failures, failed.Delta(before, "resolver", Calls));
        Assert.Equal(failures, failed.Delta(before, "resolver", Errors));
        Assert.Equal(failures, upstream.Requests);

        // The upstream recovers and answers "no session": a call, not an error.
        upstream.Failing = false;
        Assert.Equal(SessionLookupStatus.NoSession, (await resolver.LookupAsync(request)).Status);
        var recovered = meters.Snapshot();
        Assert.Equal(1, recovered.Delta(failed, "resolver", Calls));
        Assert.Equal(0, recovered.Delta(failed, "resolver", Errors));
        Assert.Equal(failures + 1, upstream.Requests);
    }

    [Fact]
    public async Task ALookupWithoutASessionCookieIsNotCountedAsAnUpstreamCall()
    {
        await using var upstream = await SwitchableUpstream.StartAsync();
        using var services = Resolver(upstream.BaseAddress);
        var resolver = services.GetRequiredService<ISessionResolver>();
        using var meters = new SessionCacheMeterReader([("resolver", services)]);
        var before = meters.Snapshot();

        // Auth.js answers null without a session cookie: the resolver does not ask it.
        Assert.Equal(SessionLookupStatus.NoSession, (await resolver.LookupAsync(SessionRequest.FromCookieHeader("theme=dark"))).Status);

        Assert.Equal(0, upstream.Requests);
        Assert.Equal(0, meters.Snapshot().Delta(before, "resolver", Calls));
    }

    [Fact]
    public async Task LocalJwtModeHasNoUpstreamToCount()
    {
        using var services = Build(new()
        {
            ["SessionCache:Mode"] = "Local",
            ["AUTH_SECRET"] = MetricsCluster.Secret,
        });
        var resolver = services.GetRequiredService<ISessionResolver>();

        // The resolver does not count in this mode: make the meter exist, as any host using it does.
        services.GetRequiredService<SessionCacheMetrics>();
        using var meters = new SessionCacheMeterReader([("resolver", services)]);
        var before = meters.Snapshot();

        var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader(MetricsCluster.CookieOf(MetricsCluster.NewToken("metrics-local"))));

        Assert.Equal(SessionLookupStatus.Session, result.Status);

        Assert.Equal(0, meters.Snapshot().Delta(before, "resolver", Calls));
    }

    private static ServiceProvider Resolver(Uri upstream) => Build(new()
    {
        ["SessionCache:Mode"] = "Proxy",
        ["SessionCache:Upstream"] = upstream.ToString(),
        ["SessionCache:Proxy:MaxRetries"] = "0",
        ["SessionCache:Proxy:CircuitMinimumThroughput"] = "1000",
    });

    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddAuthJsSessionResolution(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();

        // A silo or client creates its meter when it starts (its metrics reporter needs it);
        // without a host, create it as one would, before anything is measured.
        provider.GetRequiredService<SessionCacheMetrics>();
        return provider;
    }

    /// <summary>An Auth.js stand-in on loopback whose session endpoint answers 500, or <c>null</c> once switched.</summary>
    private sealed class SwitchableUpstream : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _requests;

        private SwitchableUpstream(WebApplication app) => _app = app;

        public Uri BaseAddress => new(_app.Urls.First() + "/api/auth");

        private volatile bool _failing = true;

        public bool Failing
        {
            get => _failing;
            set => _failing = value;
        }

        public int Requests => Volatile.Read(ref _requests);

        public static async Task<SwitchableUpstream> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var upstream = new SwitchableUpstream(app);
            app.MapGet("/api/auth/session", () =>
            {
                Interlocked.Increment(ref upstream._requests);
                return upstream.Failing ? Results.StatusCode(StatusCodes.Status500InternalServerError) : Results.Text("null", "application/json");
            });
            await app.StartAsync();
            return upstream;
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
