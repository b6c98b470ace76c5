using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using SessionCache.Processes.Tests.Infrastructure;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Locking.Distributed.Redis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

/// <summary>
/// The cluster's scenarios next to what a .NET team would build instead: three FusionCache nodes
/// with Redis as their second level and backplane (and, as a second row, FusionCache's Redis
/// distributed locker), in front of the same Auth.js, on the same redis-server, in the same run.
/// Each FusionCache node has its own connections and memory level, as separate app processes
/// would; they share this process, which changes nothing of how they coordinate (only through Redis).
/// </summary>
internal static class FusionCacheComparison
{
    public static async Task RunAsync(ProcessCluster cluster, int stampedeTrials, int signOutTrials, int restartTrials)
    {
        // A scenario asked for 0 trials is skipped (the baseline build's run times the stampede only).
        foreach (var withLocker in new[] { false, true })
        {
            await using var nodes = await FusionNodes.StartAsync(cluster, withLocker);
            await StampedeAsync(cluster, nodes, stampedeTrials);
            await SignOutAsync(cluster, nodes, signOutTrials);
        }

        await StampedeAsync(cluster, null, stampedeTrials);
        await SignOutAsync(cluster, null, signOutTrials);

        // Last, because they restart the Redis everything here shares.
        await RestartAsync(cluster, null, restartTrials);
        await using (var nodes = await FusionNodes.StartAsync(cluster, withLocker: false))
        {
            await RestartAsync(cluster, nodes, restartTrials);
        }
    }

    private static string Name(FusionNodes? nodes) => nodes is null
        ? "session cache (3 silo processes' HTTP fronts)"
        : nodes.WithLocker ? "FusionCache + Redis L2 + backplane + distributed locker" : "FusionCache + Redis L2 + backplane";

    /// <summary>
    /// 1,000 concurrent lookups of one new session, a third on each node: how many reached Auth.js,
    /// and how long until all were answered.
    /// </summary>
    private static async Task StampedeAsync(ProcessCluster cluster, FusionNodes? nodes, int trials)
    {
        if (trials == 0)
        {
            return;
        }

        const int Lookups = 1000;

        // Open the connections first, so that the trials time lookups, not TCP handshakes.
        var warm = await cluster.SignInAsync($"warm-{Guid.NewGuid():N}");
        await Task.WhenAll(Enumerable.Range(0, Lookups).Select(i => LookUpAsync(cluster, nodes, i % 3, warm)));

        var calls = new List<int>();
        var times = new List<double>();
        var cachedTimes = new List<double>();
        var unanswered = 0;
        for (var trial = 0; trial < trials; trial++)
        {
            var cookie = await cluster.SignInAsync($"stampede-{Guid.NewGuid():N}");
            await cluster.ResetUpstreamCallsAsync();
            var watch = Stopwatch.StartNew();
            var answers = await Task.WhenAll(Enumerable.Range(0, Lookups).Select(i => LookUpAsync(cluster, nodes, i % 3, cookie)));
            times.Add(watch.Elapsed.TotalMilliseconds);
            unanswered += answers.Count(static served => !served);
            calls.Add((await cluster.UpstreamCallsAsync()).Count);

            // The same 1,000 again, the session now cached on every node: what the HTTP fronts cost.
            watch.Restart();
            await Task.WhenAll(Enumerable.Range(0, Lookups).Select(i => LookUpAsync(cluster, nodes, i % 3, cookie)));
            cachedTimes.Add(watch.Elapsed.TotalMilliseconds);
        }

        Print(new
        {
            benchmark = "1,000 concurrent lookups of one new session over 3 nodes",
            cache = Name(nodes),
            trials,
            upstreamCallsPerTrial = calls,
            medianMsUntilAllAnswered = Median(times),
            medianMsUntilAllAnsweredOnceCached = Median(cachedTimes),
            notServed = unanswered,
        });
    }

    /// <summary>
    /// A session cached on every node, then signed out through one: how long the call takes, and in
    /// how many trials another node still served the session after it returned (and for how long).
    /// </summary>
    private static async Task SignOutAsync(ProcessCluster cluster, FusionNodes? nodes, int trials)
    {
        if (trials == 0)
        {
            return;
        }

        var returnedMs = new List<double>();
        var staleForMs = new List<double>();
        var staleTrials = 0;
        for (var trial = 0; trial < trials; trial++)
        {
            var user = $"signout-{Guid.NewGuid():N}";
            var cookie = await cluster.SignInAsync(user);
            for (var node = 0; node < 3; node++)
            {
                if (!await LookUpAsync(cluster, nodes, node, cookie))
                {
                    throw new InvalidOperationException("a session did not resolve");
                }
            }

            var watch = Stopwatch.StartNew();
            await SignOutAsync(cluster, nodes, user, cookie);
            returnedMs.Add(watch.Elapsed.TotalMilliseconds);
            var returnedAt = watch.Elapsed;
            if (await ServedAnywhereAsync(cluster, nodes, cookie))
            {
                staleTrials++;
                while (await ServedAnywhereAsync(cluster, nodes, cookie))
                {
                }

                staleForMs.Add((watch.Elapsed - returnedAt).TotalMilliseconds);
            }
        }

        Print(new
        {
            benchmark = "sign-out: when the call returns, and stale answers from other nodes after it returned",
            cache = Name(nodes),
            trials,
            medianMsUntilReturned = Median(returnedMs),
            p99MsUntilReturned = Percentile(returnedMs, 0.99),
            trialsWithAStaleAnswerAfterReturn = staleTrials,
            medianMsStaleAfterReturn = staleForMs.Count == 0 ? 0 : Median(staleForMs),
            maxMsStaleAfterReturn = staleForMs.Count == 0 ? 0 : Math.Round(staleForMs.Max(), 2),
        });
    }

    /// <summary>
    /// Sign-outs one after another, Redis SIGKILLed after a few and started again (same port, its
    /// append-only file fsynced on every write) a second later. Once Redis answers again and every
    /// node has had time to recover, each sign-out whose call returned without an error is checked
    /// on the other nodes: lost if its session is still served there.
    /// </summary>
    private static async Task RestartAsync(ProcessCluster cluster, FusionNodes? nodes, int trials)
    {
        if (trials == 0)
        {
            return;
        }

        const int SignOuts = 20;
        var lostPerTrial = new List<int>();
        var failedPerTrial = new List<int>();
        for (var trial = 0; trial < trials; trial++)
        {
            var sessions = new List<(string User, string Cookie)>();
            for (var i = 0; i < SignOuts; i++)
            {
                var user = $"restart-{Guid.NewGuid():N}";
                var cookie = await cluster.SignInAsync(user);
                for (var node = 0; node < 3; node++)
                {
                    if (!await LookUpAsync(cluster, nodes, node, cookie))
                    {
                        throw new InvalidOperationException("a session did not resolve");
                    }
                }

                sessions.Add((user, cookie));
            }

            var confirmed = new List<string>();
            var failed = 0;
            var restart = Task.CompletedTask;
            for (var i = 0; i < SignOuts; i++)
            {
                if (i == 5)
                {
                    cluster.Redis.Kill();
                    restart = Task.Run(async () =>
                    {
                        await Task.Delay(1000);
                        await cluster.Redis.StartAsync();
                    });
                }

                try
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                    await SignOutAsync(cluster, nodes, sessions[i].User, sessions[i].Cookie).WaitAsync(timeout.Token);
                    confirmed.Add(sessions[i].Cookie);
                }
                catch (Exception)
                {
                    failed++;
                }

                await Task.Delay(100);
            }

            await restart;

            // Every process recovered: the cluster heals (the benchmark waits for it), and
            // FusionCache's auto-recovery re-sends what it could not publish after its delay (5 s).
            await cluster.HealAsync();
            await Task.Delay(nodes is null ? TimeSpan.Zero : TimeSpan.FromSeconds(15));
            var lost = 0;
            foreach (var cookie in confirmed)
            {
                if (await ServedAnywhereAsync(cluster, nodes, cookie))
                {
                    lost++;
                }
            }

            lostPerTrial.Add(lost);
            failedPerTrial.Add(failed);
        }

        Print(new
        {
            benchmark = "Redis SIGKILLed and restarted during 20 sign-outs",
            cache = Name(nodes),
            trials,
            failedSignOutsPerTrial = failedPerTrial,
            lostSignOutsPerTrial = lostPerTrial,
            trialsLosingASignOut = lostPerTrial.Count(static l => l > 0),
        });
    }

    /// <summary>GET /api/auth/session on a node's HTTP front, as a browser's request reaches an app node.</summary>
    private static async Task<bool> LookUpAsync(ProcessCluster cluster, FusionNodes? nodes, int node, string cookie) => nodes is null
        ? (await cluster.Silos[node].SessionAsync(cookie)).Outcome == FrontOutcome.Session
        : await nodes[node].SessionAsync(cookie);

    /// <summary>The session still served by a node other than the one it was signed out through (or, for the cluster, on any path).</summary>
    private static async Task<bool> ServedAnywhereAsync(ProcessCluster cluster, FusionNodes? nodes, string cookie)
    {
        if (nodes is null)
        {
            return (await cluster.LookUpEverywhereAsync(cookie)).Any(static a => a.Outcome == FrontOutcome.Session);
        }

        return await nodes[1].IsCachedAsync(cookie) || await nodes[2].IsCachedAsync(cookie);
    }

    private static Task SignOutAsync(ProcessCluster cluster, FusionNodes? nodes, string user, string cookie) => nodes is null
        ? cluster.Client.InvalidateUserAsync(user).AsTask()
        : nodes[0].RemoveAsync(cookie);

    private static double Median(List<double> values) => Percentile(values, 0.5);

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return Math.Round(sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * p))], 2);
    }

    private static void Print(object result) => Console.WriteLine(JsonSerializer.Serialize(result));
}

/// <summary>Three FusionCache nodes on the cluster's redis-server, resolving sessions from the same Auth.js.</summary>
internal sealed class FusionNodes : IAsyncDisposable
{
    private readonly List<FusionNode> _nodes;

    private FusionNodes(List<FusionNode> nodes, bool withLocker)
    {
        _nodes = nodes;
        WithLocker = withLocker;
    }

    public bool WithLocker { get; }

    public FusionNode this[int index] => _nodes[index];

    public static async Task<FusionNodes> StartAsync(ProcessCluster cluster, bool withLocker)
    {
        var prefix = $"fusion-{Guid.NewGuid():N}:";
        var nodes = new List<FusionNode>();
        for (var i = 0; i < 3; i++)
        {
            nodes.Add(await FusionNode.StartAsync(cluster, prefix, withLocker));
        }

        return new FusionNodes(nodes, withLocker);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }
}

/// <summary>
/// One app node as FusionCache's docs set it up for several nodes: its memory level, Redis as the
/// distributed level (System.Text.Json), the Redis backplane, optionally the Redis distributed
/// locker, all on one connection multiplexer; entries kept as long as the cluster's default
/// SessionCache:MaxCacheAge (5 minutes). Its HTTP front answers GET /api/auth/session from the
/// cache, as the silos' fronts do, so that both are measured from the same HTTP client.
/// </summary>
internal sealed class FusionNode : IAsyncDisposable
{
    private readonly FusionCache _cache;
    private readonly ConnectionMultiplexer _redis;
    private readonly HttpClient _upstream;
    private WebApplication _front = null!;
    private HttpClient _http = null!;

    private FusionNode(FusionCache cache, ConnectionMultiplexer redis, HttpClient upstream)
    {
        _cache = cache;
        _redis = redis;
        _upstream = upstream;
    }

    public static async Task<FusionNode> StartAsync(ProcessCluster cluster, string prefix, bool withLocker)
    {
        var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.ConnectionString + ",abortConnect=false");
        var cache = new FusionCache(new FusionCacheOptions
        {
            CacheName = "sessions",
            CacheKeyPrefix = prefix,
            DefaultEntryOptions = new FusionCacheEntryOptions { Duration = TimeSpan.FromMinutes(5) },
        });
        Task<IConnectionMultiplexer> Connection() => Task.FromResult<IConnectionMultiplexer>(redis);
        cache.SetupDistributedCache(new RedisCache(new RedisCacheOptions { ConnectionMultiplexerFactory = Connection }), new FusionCacheSystemTextJsonSerializer());
        cache.SetupBackplane(new RedisBackplane(new RedisBackplaneOptions { ConnectionMultiplexerFactory = Connection }));
        if (withLocker)
        {
            cache.SetupDistributedLocker(new RedisDistributedLocker(new RedisDistributedLockerOptions { ConnectionMultiplexerFactory = Connection }));
        }

        // The same Auth.js endpoint the cluster's proxy mode calls, so the same counter sees both.
        var upstream = new HttpClient(new SocketsHttpHandler { UseCookies = false })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{cluster.Upstream.Port}/switch/auth/"),
            Timeout = TimeSpan.FromSeconds(30),
        };
        var node = new FusionNode(cache, redis, upstream);
        await node.StartFrontAsync();
        return node;
    }

    /// <summary>GET /api/auth/session through this node's HTTP front: is the session served?</summary>
    public async Task<bool> SessionAsync(string cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/auth/session");
        request.Headers.Add("Cookie", cookie);
        using var response = await _http.SendAsync(request);
        return response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync()).Trim() != "null";
    }

    /// <summary>The session JSON for the cookie, or <see langword="null"/> when Auth.js has none.</summary>
    public async Task<string?> GetOrSetAsync(string cookie)
    {
        var session = await _cache.GetOrSetAsync<string>(Key(cookie), async (_, cancellationToken) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "session");
            request.Headers.Add("Cookie", cookie);
            using var response = await _upstream.SendAsync(request, cancellationToken);
            response.EnsureSuccessStatusCode();
            return await response.Content.ReadAsStringAsync(cancellationToken);
        });
        return session is "null" ? null : session;
    }

    /// <summary>Would this node serve the session from its cache (either level) instead of asking Auth.js?</summary>
    public async Task<bool> IsCachedAsync(string cookie) => (await _cache.TryGetAsync<string>(Key(cookie))).HasValue;

    public Task RemoveAsync(string cookie) => _cache.RemoveAsync(Key(cookie)).AsTask();

    public async ValueTask DisposeAsync()
    {
        await _front.DisposeAsync();
        _http.Dispose();
        _cache.Dispose();
        _upstream.Dispose();
        await _redis.DisposeAsync();
    }

    private async Task StartFrontAsync()
    {
        var port = Ports.Free();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        _front = builder.Build();
        _front.MapGet("/api/auth/session", async (HttpContext context) =>
            Results.Content(await GetOrSetAsync(context.Request.Headers.Cookie.ToString()) ?? "null", "application/json"));
        await _front.StartAsync();
        _http = new HttpClient(new SocketsHttpHandler { UseCookies = false, PooledConnectionLifetime = TimeSpan.FromSeconds(5) })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}/"),
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    // The session token is the key, as it is the cluster's; the cookie header here carries only it.
    private static string Key(string cookie) => cookie;
}
