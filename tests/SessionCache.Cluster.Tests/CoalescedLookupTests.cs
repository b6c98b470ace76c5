using Microsoft.Extensions.DependencyInjection;
using SessionCache.AuthJs;
using SessionCache.Contracts;

namespace SessionCache.Cluster.Tests;

/// <summary>Proxy mode, with every session-grain lookup counted where it arrives and, on demand, one reply held on its way back.</summary>
public sealed class CoalescingCluster : SessionCluster
{
    public SessionGrainLookups Lookups { get; } = new();

    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Proxy",
        ["SessionCache:Upstream"] = new Uri(authJs.BaseAddress, "switch/auth").ToString(),
    };

    protected override void ConfigureSilo(IServiceCollection services)
    {
        services.AddSingleton<IIncomingGrainCallFilter>(Lookups);
        services.AddSingleton<IOutgoingGrainCallFilter>(Lookups);
    }
}

/// <summary>Counts <see cref="ISessionGrain.LookupAsync"/> calls received; holds the reply of the next one sent once armed.</summary>
public sealed class SessionGrainLookups : IIncomingGrainCallFilter, IOutgoingGrainCallFilter
{
    private int _received;
    private TaskCompletionSource? _held;
    private TaskCompletionSource _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int Received => Volatile.Read(ref _received);

    /// <summary>Completes once the armed call's reply has arrived and is being held.</summary>
    public Task Holding => _holding.Task;

    public void Arm()
    {
        _holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
        _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _held, _release);
    }

    public void Release() => _release.TrySetResult();

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (IsLookup(context))
        {
            Interlocked.Increment(ref _received);
        }

        await context.Invoke();
    }

    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        var hold = IsLookup(context) ? Interlocked.Exchange(ref _held, null) : null;
        await context.Invoke();
        if (hold is not null)
        {
            _holding.TrySetResult();
            await hold.Task;
        }
    }

    private static bool IsLookup(IGrainCallContext context) =>
        context.InterfaceMethod?.DeclaringType == typeof(ISessionGrain) && context.InterfaceMethod.Name == nameof(ISessionGrain.LookupAsync);
}

[CollectionDefinition(Name)]
public sealed class CoalescingClusterCollection : ICollectionFixture<CoalescingCluster>
{
    public const string Name = "Coalescing cluster";
}

/// <summary>Concurrent lookups of one session in one process share one grain call, and never one a sign-out overtook.</summary>
[Collection(CoalescingClusterCollection.Name)]
public sealed class CoalescedLookupTests(CoalescingCluster cluster)
{
    [Fact]
    public async Task ConcurrentLookupsOfANewSessionMakeOneGrainCallPerProcess()
    {
        var cookie = AuthJsServer.CookieHeader(await cluster.AuthJs.SignInAsync("/jwt/auth", "coalesced-burst"));
        var callers = cluster.SiloCaches.Append(cluster.ClientCache).ToArray();
        var before = cluster.Lookups.Received;

        var results = await Task.WhenAll(Enumerable.Range(0, 400).Select(i => callers[i % callers.Length].LookupAsync(SessionRequest.FromCookieHeader(cookie)).AsTask()));

        Assert.All(results, static r => Assert.Equal(SessionLookupStatus.Session, r.Status));
        Assert.Equal(callers.Length, cluster.Lookups.Received - before);
    }

    [Fact]
    public async Task ALookupStartedAfterASignOutReturnedDoesNotShareACallAnsweredBeforeIt()
    {
        var cookie = AuthJsServer.CookieHeader(await cluster.AuthJs.SignInAsync("/jwt/auth", "coalesced-signout"));
        var process = cluster.SiloCaches[0];

        // The grain answers this lookup with the session; its reply is held on the way back.
        cluster.Lookups.Arm();
        var early = process.LookupAsync(SessionRequest.FromCookieHeader(cookie)).AsTask();
        try
        {
            await cluster.Lookups.Holding.WaitAsync(TimeSpan.FromSeconds(30));
            await process.InvalidateUserAsync("user-coalesced-signout");

            // Started after the sign-out returned: its own call, refused, while the early one still waits.
            var late = await process.LookupAsync(SessionRequest.FromCookieHeader(cookie)).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.NotEqual(SessionLookupStatus.Session, late.Status);
            Assert.False(early.IsCompleted);
        }
        finally
        {
            cluster.Lookups.Release();
        }

        // The early lookup overlapped the sign-out and may answer either way, but its answer is not kept.
        await early;
        Assert.NotEqual(SessionLookupStatus.Session, (await process.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
    }

    [Fact]
    public async Task SessionGrainsGoOnceTheirTimeHasComeOnTheSessionClock()
    {
        var cookie = AuthJsServer.CookieHeader(await cluster.AuthJs.SignInAsync("/jwt/auth", "coalesced-expiry"));
        Assert.Equal(SessionLookupStatus.Session, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
        var management = cluster.ClientServices.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
        async Task<int> SessionGrainsAsync() => (await management.GetSimpleGrainStatistics())
            .Where(static s => s.GrainType.Contains("SessionGrain", StringComparison.Ordinal)).Sum(static s => s.ActivationCount);
        Assert.NotEqual(0, await SessionGrainsAsync());

        // Past every cache age here (sessions 5 minutes, their fail-safe 5 more, refusals 1), on
        // the session clock only: every session grain of this cluster goes.
        cluster.Clock.Advance(TimeSpan.FromMinutes(11));
        await Eventually.TrueAsync(async () => await SessionGrainsAsync() == 0, "every session grain to deactivate", 30);
    }
}
