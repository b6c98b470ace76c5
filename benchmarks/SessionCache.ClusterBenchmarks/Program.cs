using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Client;
using SessionCache.Client.Internals;
using SessionCache.Contracts;
using SessionCache.Hosting;

// Usage:
//   cohosted <tokens.json>                      a silo in this process: near-cache hit vs bare grain call vs decoding
//   client <gateway> <tokens.json> <callers> <seconds> [near|grain]   lookups through the client
//   memory <sessions>                           managed memory per cached session in a co-hosted silo
//   callbacks <tokens.json> <module.mjs>        a resolution and a co-hosted hit, shaped by the app's callbacks and not
//   notice <entries...>                         one sign-out notice applied to a near cache of each size
//   bare-http <url> <cookie-name> <token> <session.json>   the HTTP floor: Kestrel answering the session's bytes from a dictionary
//   renewals <count>                            CPU per lease renewal: a client renewing through a silo's gateway, both in this process
return args switch
{
    ["renewals", var count] => await RenewalsAsync(int.Parse(count, CultureInfo.InvariantCulture)),
    ["bare-http", var url, var cookieName, var token, var sessionFile] => await BareHttpAsync(url, cookieName, token, await File.ReadAllBytesAsync(sessionFile)),
    ["notice", .. var sizes] when sizes.Length > 0 => Notice([.. sizes.Select(static s => int.Parse(s, CultureInfo.InvariantCulture))]),
    ["callbacks", var tokens, var module] => await CallbacksAsync(tokens, module),
    ["memory", var count] => await MemoryAsync(int.Parse(count, CultureInfo.InvariantCulture)),
    ["cohosted", var tokens] => await CoHostedAsync(tokens),
    ["client", var gateway, var tokens, var callers, var seconds, var mode] => await ClientAsync(gateway, tokens, int.Parse(callers, CultureInfo.InvariantCulture), int.Parse(seconds, CultureInfo.InvariantCulture), mode == "near"),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: cohosted <tokens.json> | client <host:port> <tokens.json> <callers> <seconds> near|grain");
    return 2;
}

static (string Cookie, string[] Secrets) ReadTokens(string path)
{
    using var document = JsonDocument.Parse(File.ReadAllBytes(path));
    var root = document.RootElement;
    return ($"{root.GetProperty("salt").GetString()}={root.GetProperty("token").GetString()}", [.. root.GetProperty("secrets").EnumerateArray().Select(static s => s.GetString()!)]);
}

static async Task<int> CoHostedAsync(string tokensPath)
{
    var (cookie, secrets) = ReadTokens(tokensPath);
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["SessionCache:Mode"] = "Local",
        ["AUTH_SECRET"] = secrets[0],
        ["AUTH_SECRET_1"] = secrets[1],
        ["AUTH_SECRET_2"] = secrets[2],
    });
    var (siloPort, gatewayPort) = (FreePort(), FreePort());
    builder.UseOrleans(silo =>
    {
        silo.UseLocalhostClustering(siloPort, gatewayPort);
        silo.AddMemoryGrainStorageAsDefault();
        silo.AddSessionCache(builder.Configuration);
    });
    using var host = builder.Build();
    await host.StartAsync();
    var services = host.Services;
    var cache = services.GetRequiredService<ISessionCache>();
    var near = services.GetRequiredService<NearCache>();
    while (!near.IsLeaseValid)
    {
        await Task.Delay(20);
    }

    var request = SessionRequest.FromCookieHeader(cookie);
    if ((await cache.GetServerSessionAsync(request)) is null)
    {
        throw new InvalidOperationException("the benchmark token does not resolve");
    }

    var key = services.GetRequiredService<SessionKeys>().Select(request);
    var grain = services.GetRequiredService<IGrainFactory>().GetGrain<ISessionGrain>(key.Hash);
    var credential = new SessionCredential(key.Cookies, key.Authorization);
    var direct = services.GetRequiredKeyedService<ISessionResolver>(AuthJsServiceCollectionExtensions.DirectResolverKey);
    var metrics = services.GetRequiredService<SessionCacheMetrics>();

    // The floor: the same header parsed as Auth.js parses it, and the session read from a dictionary by its value.
    var floorCache = new System.Collections.Concurrent.ConcurrentDictionary<string, AuthJsSession>(StringComparer.Ordinal);
    floorCache[CookieReader.ReadSessionToken(request, "authjs.session-token")] = (await cache.GetServerSessionAsync(request))!;
    Console.WriteLine(FormattableString.Invariant($"bytes allocated per co-hosted hit (LookupAsync): {AllocatedPerCall(() => cache.LookupAsync(request)):F1}"));

    // The same without allocating: the cookie found in the header in place (no product code), the dictionary read by a span.
    var floorBySpan = floorCache.GetAlternateLookup<ReadOnlySpan<char>>();
    var header = request.CookieHeader!;

    // FusionCache as a .NET team would use it for this: the session token (the cookie's value) as
    // the key, its memory level answering (its Redis level and backplane are not on a hit's path).
    using var fusion = new ZiggyCreatures.Caching.Fusion.FusionCache(new ZiggyCreatures.Caching.Fusion.FusionCacheOptions());
    var cachedSession = floorCache.Values.Single();
    await fusion.SetAsync(CookieReader.ReadSessionToken(request, "authjs.session-token"), cachedSession, new ZiggyCreatures.Caching.Fusion.FusionCacheEntryOptions(TimeSpan.FromMinutes(5)));
    Console.WriteLine(FormattableString.Invariant($"bytes allocated per co-hosted hit (GetServerSessionAsync): {AllocatedPerCall(async () => (await cache.GetServerSessionAsync(request))!):F1}"));
    Console.WriteLine(FormattableString.Invariant($"bytes allocated per FusionCache GetOrSetAsync hit: {AllocatedPerCall(async () => await fusion.GetOrSetAsync<AuthJsSession>(CookieReader.ReadSessionToken(request, "authjs.session-token"), static (_, _) => Task.FromResult<AuthJsSession>(null!))):F1}"));

    var results = await Interleaved(
        25,
        ("GetServerSessionAsync, co-hosted (near-cache hit)", 20_000, async () => await cache.GetServerSessionAsync(request)),
        ("floor: parse the header, read a dictionary", 20_000, () =>
        {
            floorCache.TryGetValue(CookieReader.ReadSessionToken(request, "authjs.session-token"), out _);
            return ValueTask.CompletedTask;
        }),
        ("floor without allocating: the header walked in place, a dictionary read by span", 20_000, () =>
        {
            floorBySpan.TryGetValue(CookieValue(header, "authjs.session-token="), out _);
            return ValueTask.CompletedTask;
        }),
        ("FusionCache GetOrSetAsync hit (memory level), key from the header", 20_000, async () =>
            await fusion.GetOrSetAsync<AuthJsSession>(CookieReader.ReadSessionToken(request, "authjs.session-token"), static (_, _) => Task.FromResult<AuthJsSession>(null!))),
        ("FusionCache TryGet hit (memory level), key from the header", 20_000, () =>
        {
            _ = fusion.TryGet<AuthJsSession>(CookieReader.ReadSessionToken(request, "authjs.session-token"));
            return ValueTask.CompletedTask;
        }),
        ("bare Orleans call to the local session grain", 2_000, async () => await grain.LookupAsync(credential)),
        ("decoding the cookie without a cache", 2_000, async () => await direct.LookupAsync(request)),
        ("recording one lookup's metrics (part of the hit above)", 20_000, () =>
        {
            metrics.LookupCompleted(SessionCacheMetrics.Start(), nearHit: true);
            return ValueTask.CompletedTask;
        }));
    Print(results);
    await host.StopAsync();
    return 0;
}

// One run, interleaved: resolving the token with Auth.js' default session, with the app's callbacks
// module, with the field mapping and with the .NET hook (each the same shape: id, role, orgs); then
// a near-cache hit in a co-hosted silo without and one with the callbacks module.
static async Task<int> CallbacksAsync(string tokensPath, string module)
{
    var (cookie, secrets) = ReadTokens(tokensPath);
    var request = SessionRequest.FromCookieHeader(cookie);
    Dictionary<string, string?> Settings(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["SessionCache:Mode"] = "Local",
            ["AUTH_SECRET"] = secrets[0],
            ["AUTH_SECRET_1"] = secrets[1],
            ["AUTH_SECRET_2"] = secrets[2],
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    ISessionResolver Resolver(Dictionary<string, string?> settings, Action<SessionCacheOptions>? configure = null)
    {
        var services = new ServiceCollection().AddLogging();
        services.AddAuthJsSessionResolution(new ConfigurationBuilder().AddInMemoryCollection(settings).Build(), configure);
        return services.BuildServiceProvider().GetRequiredService<ISessionResolver>();
    }

    var plain = Resolver(Settings());
    var callbacks = Resolver(Settings(("SessionCache:CallbacksModule", module)));
    var mapping = Resolver(Settings(("SessionCache:SessionFields:user.id", "sub"), ("SessionCache:SessionFields:user.role", "role"), ("SessionCache:SessionFields:orgs", "orgs")));
    var hook = Resolver(Settings(), static options => options.ShapeSession = static context =>
    {
        var session = context.Session;
        session["user"]!["id"] = context.Token.GetProperty("sub").GetString();
        session["user"]!["role"] = context.Token.GetProperty("role").GetString();
        session["orgs"] = System.Text.Json.Nodes.JsonNode.Parse(context.Token.GetProperty("orgs").GetRawText());
        return session;
    });
    foreach (var resolver in (ISessionResolver[])[plain, callbacks, mapping, hook])
    {
        if ((await resolver.GetServerSessionAsync(request)) is null)
        {
            throw new InvalidOperationException("the benchmark token does not resolve");
        }
    }

    var (plainHost, plainCache) = await StartCoHostedAsync(Settings());
    var (callbacksHost, callbacksCache) = await StartCoHostedAsync(Settings(("SessionCache:CallbacksModule", module)));
    Console.WriteLine("session without callbacks: " + await plainCache.GetServerSessionAsync(request));
    Console.WriteLine("session with callbacks:    " + await callbacksCache.GetServerSessionAsync(request));

    var results = await Interleaved(
        25,
        ("resolution, Auth.js' default session (floor)", 2_000, async () => await plain.LookupAsync(request)),
        ("resolution, the app's callbacks module (Jint)", 2_000, async () => await callbacks.LookupAsync(request)),
        ("resolution, SessionCache:SessionFields mapping", 2_000, async () => await mapping.LookupAsync(request)),
        ("resolution, ShapeSession hook", 2_000, async () => await hook.LookupAsync(request)),
        ("co-hosted hit, without callbacks", 20_000, async () => await plainCache.GetServerSessionAsync(request)),
        ("co-hosted hit, with callbacks", 20_000, async () => await callbacksCache.GetServerSessionAsync(request)));
    Console.WriteLine("| Case | Median | Min | Max | Added to the floor |");
    Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
    foreach (var (name, median, min, max) in results)
    {
        var floor = name.StartsWith("co-hosted", StringComparison.Ordinal) ? results[4].MedianNs : results[0].MedianNs;
        Console.WriteLine(FormattableString.Invariant($"| {name} | {median / 1000:F2} µs | {min / 1000:F2} µs | {max / 1000:F2} µs | {(median - floor) / 1000:+0.00;-0.00} µs ({median / floor:F2}×) |"));
    }

    await callbacksHost.StopAsync();
    await plainHost.StopAsync();
    return 0;
}

static async Task<(IHost Host, ISessionCache Cache)> StartCoHostedAsync(Dictionary<string, string?> settings)
{
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.Configuration.AddInMemoryCollection(settings);
    var (siloPort, gatewayPort) = (FreePort(), FreePort());
    builder.UseOrleans(silo =>
    {
        silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: "bench", clusterId: "bench-" + siloPort);
        silo.AddMemoryGrainStorageAsDefault();
        silo.AddSessionCache(builder.Configuration);
    });
    var host = builder.Build();
    await host.StartAsync();
    var near = host.Services.GetRequiredService<NearCache>();
    while (!near.IsLeaseValid)
    {
        await Task.Delay(20);
    }

    return (host, host.Services.GetRequiredService<ISessionCache>());
}

// One sign-out notice (a user with two sessions) applied to near caches of the given sizes, every
// entry another user's: what a process pays per notice as its cache grows. Median of 25 rounds.
static int Notice(int[] sizes)
{
    Console.WriteLine("| near-cache entries | one notice, median | min | max |");
    Console.WriteLine("| ---: | ---: | ---: | ---: |");
    foreach (var size in sizes)
    {
        using var near = new NearCache(size + 16, TimeProvider.System);
        near.ExtendLease(near.LeaseTimestamp(), TimeSpan.FromMinutes(10), missedNotices: false);
        var until = DateTimeOffset.UtcNow.AddHours(1);
        CachedLookup Lookup(string userId) => new(SessionLookupResult.Found(AuthJsSession.Parse("""{"user":{"name":"n"},"expires":"2030-01-01T00:00:00.000Z"}"""u8), userId, null, until), until);
        for (var i = 0; i < size; i++)
        {
            var canonical = $"authjs.session-token=token-{i:D8}\n";
            near.Add(near.KeyOf(canonical), SessionKeys.HashOf(canonical), Lookup($"user-{i}"), near.Epoch, DateTimeOffset.UtcNow);
        }

        var samples = new List<double>();
        for (var round = -3; round < 25; round++)
        {
            // The signed-out user's two sessions, cached again before each notice.
            for (var device = 0; device < 2; device++)
            {
                var canonical = $"authjs.session-token=signed-out-{device}\n";
                near.Add(near.KeyOf(canonical), SessionKeys.HashOf(canonical), Lookup("user-signed-out"), near.Epoch, DateTimeOffset.UtcNow);
            }

            var notice = new InvalidationNotice(SessionKeys.UserKeyOf("user-signed-out"), []);
            var started = Stopwatch.GetTimestamp();
            near.Invalidate(notice);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            if (round >= 0)
            {
                samples.Add(elapsed);
            }
        }

        if (near.Count != size)
        {
            throw new InvalidOperationException($"the notice left {near.Count} entries of {size}");
        }

        Console.WriteLine(FormattableString.Invariant($"| {size:N0} | {Median(samples):F1} µs | {samples.Min():F1} µs | {samples.Max():F1} µs |"));
    }

    return 0;
}

// Caches <count> distinct sessions, each of its own user (the worst case: a UserGrain each), in a
// silo in this process with its near cache, and reports the managed heap they hold beyond their
// session JSON. Resolution is a stand-in that builds the session from the cookie, so that only the
// cache is measured.
static async Task<int> MemoryAsync(int count)
{
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.Configuration["SessionCache:Mode"] = "Proxy";
    builder.Configuration["SessionCache:Upstream"] = "http://127.0.0.1:9/unused";
    builder.Configuration["SessionCache:MaxCacheAge"] = "01:00:00";
    builder.Configuration["SessionCache:NearCache:MaxEntries"] = (count + 10_000).ToString(CultureInfo.InvariantCulture);

    // Filling a million sessions on two cores pauses this process for tens of seconds at a time
    // (workstation GC, blocking compactions here): longer than the default 6 s lease, which would
    // empty the near cache mid-measurement. Memory, not leases, is measured here.
    builder.Configuration["SessionCache:NearCache:Lease"] = "00:05:00";
    builder.Configuration["SessionCache:NearCache:RenewEvery"] = "00:00:30";
    var (siloPort, gatewayPort) = (FreePort(), FreePort());
    builder.UseOrleans(silo =>
    {
        silo.UseLocalhostClustering(siloPort, gatewayPort);
        silo.AddMemoryGrainStorageAsDefault();
        silo.AddSessionCache(builder.Configuration);
        silo.Services.AddKeyedSingleton<ISessionResolver>(AuthJsServiceCollectionExtensions.DirectResolverKey, new SyntheticResolver());
    });
    using var host = builder.Build();
    await host.StartAsync();
    var cache = host.Services.GetRequiredService<ISessionCache>();
    var near = host.Services.GetRequiredService<NearCache>();
    while (!near.IsLeaseValid)
    {
        await Task.Delay(20);
    }

    async Task LookUpAsync(int from, int to)
    {
        await Parallel.ForAsync(from, to, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, cancellationToken) =>
        {
            if ((await cache.GetServerSessionAsync(SessionRequest.FromCookieHeader($"authjs.session-token=session-{i:D8}"), cancellationToken)) is null)
            {
                throw new InvalidOperationException("a synthetic session did not resolve");
            }
        });
    }

    // Warm the runtime (JIT, pools, timers) with sessions outside the measured range.
    await LookUpAsync(-2000, 0);
    var before = Settled();
    var jsonBytes = 0L;
    for (var i = 0; i < count; i++)
    {
        jsonBytes += System.Text.Encoding.UTF8.GetByteCount(SyntheticResolver.Json(i));
    }

    await LookUpAsync(0, count);
    var after = Settled();
    if (near.Count < count)
    {
        throw new InvalidOperationException($"only {near.Count} of {count} sessions are in the near cache");
    }

    // The users' grains are needed only while sessions are resolved; once idle they are collected
    // (UserGrain's collection age, 2 minutes) and the cached sessions remain.
    var management = host.Services.GetRequiredService<IGrainFactory>().GetGrain<IManagementGrain>(0);
    var waited = Stopwatch.StartNew();
    while ((await management.GetSimpleGrainStatistics()).Where(static s => s.GrainType.Contains("UserGrain", StringComparison.Ordinal)).Sum(static s => s.ActivationCount) > 0
        && waited.Elapsed < TimeSpan.FromMinutes(6))
    {
        await Task.Delay(5000);
    }

    var steady = Settled();
    if (near.Count < count)
    {
        throw new InvalidOperationException($"only {near.Count} of {count} sessions are still cached");
    }

    // The floor, in the same silo: as many activations of a grain that holds nothing, keyed like
    // session grains (43 characters), each called once.
    var grains = host.Services.GetRequiredService<IGrainFactory>();
    var floorBefore = Settled();
    await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, _) =>
        await grains.GetGrain<IEmptyGrain>($"empty-{i:D8}-{new string('x', 28)}").PingAsync());
    var floorAfter = Settled();

    var jsonPerSession = jsonBytes / (double)count;
    var floor = (floorAfter - floorBefore) / (double)count;
    var beyondJson = ((steady - before) / (double)count) - jsonPerSession;
    Console.WriteLine(JsonSerializer.Serialize(new
    {
        sessions = count,
        sessionJsonBytes = Math.Round(jsonPerSession),
        beyondJsonWithUserGrainsBytes = Math.Round(((after - before) / (double)count) - jsonPerSession),
        beyondJsonOnceUserGrainsIdleBytes = Math.Round(beyondJson),
        emptyGrainActivationBytes = Math.Round(floor),
        ratioToEmptyGrain = Math.Round(beyondJson / floor, 2),
        userGrainsCollectedAfterSeconds = Math.Round(waited.Elapsed.TotalSeconds),
    }));
    await host.StopAsync();
    return 0;

    static long Settled()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        return GC.GetTotalMemory(forceFullCollection: true);
    }
}

static async Task<int> ClientAsync(string gateway, string tokensPath, int callers, int seconds, bool nearCache)
{
    var (cookie, _) = ReadTokens(tokensPath);
    var builder = Host.CreateApplicationBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.Configuration["Cluster:Gateways:0"] = gateway;
    builder.Configuration["SessionCache:NearCache:Enabled"] = nearCache ? "true" : "false";
    builder.AddSessionCacheClient();
    using var host = builder.Build();
    await host.StartAsync();
    var cache = host.Services.GetRequiredService<ISessionCache>();
    var near = host.Services.GetRequiredService<NearCache>();
    while (nearCache && !near.IsLeaseValid)
    {
        await Task.Delay(20);
    }

    var request = SessionRequest.FromCookieHeader(cookie);
    for (var i = 0; i < 2000; i++)
    {
        if ((await cache.GetServerSessionAsync(request)) is null)
        {
            throw new InvalidOperationException("the benchmark token does not resolve");
        }
    }

    var stop = Stopwatch.StartNew();
    var perCaller = await Task.WhenAll(Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
    {
        var latencies = new List<long>(1 << 16);
        while (stop.ElapsedMilliseconds < seconds * 1000L)
        {
            var start = Stopwatch.GetTimestamp();
            _ = await cache.GetServerSessionAsync(request);
            latencies.Add(Stopwatch.GetTimestamp() - start);
        }

        return latencies;
    })));
    var elapsed = stop.Elapsed.TotalSeconds;
    var all = perCaller.SelectMany(static l => l).Order().ToArray();
    var median = all[all.Length / 2] * 1e6 / Stopwatch.Frequency;
    var p99 = all[(int)(all.Length * 0.99)] * 1e6 / Stopwatch.Frequency;
    Console.WriteLine(JsonSerializer.Serialize(new { callers, nearCache, requestsPerSecond = Math.Round(all.Length / elapsed), medianMicroseconds = Math.Round(median, 2), p99Microseconds = Math.Round(p99, 2) }));
    await host.StopAsync();
    return 0;
}

// What a near cache's lease costs the cluster: renewals of one subscription (the same call a
// process makes every RenewEvery) from a client through a silo's gateway, 8 at a time, with the
// CPU time of this process, which holds both, divided by the renewals.
static async Task<int> RenewalsAsync(int count)
{
    var siloBuilder = Host.CreateApplicationBuilder();
    siloBuilder.Logging.SetMinimumLevel(LogLevel.Warning);
    siloBuilder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["SessionCache:Mode"] = "Local",
        ["AUTH_SECRET"] = "renewals-benchmark-secret-renewals-benchmark",
    });
    var (siloPort, gatewayPort) = (FreePort(), FreePort());
    siloBuilder.UseOrleans(silo =>
    {
        silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: "session-cache", clusterId: "session-cache");
        silo.AddMemoryGrainStorageAsDefault();
        silo.AddSessionCache(siloBuilder.Configuration);
    });
    using var silo = siloBuilder.Build();
    await silo.StartAsync();

    var clientBuilder = Host.CreateApplicationBuilder();
    clientBuilder.Logging.SetMinimumLevel(LogLevel.Warning);
    clientBuilder.Configuration["Cluster:Gateways:0"] = $"127.0.0.1:{gatewayPort}";
    clientBuilder.Configuration["SessionCache:NearCache:Enabled"] = "false";
    clientBuilder.AddSessionCacheClient();
    using var client = clientBuilder.Build();
    await client.StartAsync();
    var grains = client.Services.GetRequiredService<IGrainFactory>();
    var directory = await grains.GetGrain<IRelayDirectoryGrain>(0).GetRelaysAsync();
    var relay = grains.GetGrain<IInvalidationRelayGrain>(directory.Active[0]);
    var observer = grains.CreateObjectReference<ISessionCacheObserver>(new IgnoringObserver());
    for (var i = 0; i < 2000; i++)
    {
        await relay.SubscribeAsync(observer);
    }

    double cpuMicroseconds = 0, wallMicroseconds = 0;
    var process = Process.GetCurrentProcess();
    var rounds = new List<(double Cpu, double Wall)>();
    for (var round = 0; round < 5; round++)
    {
        process.Refresh();
        var cpuBefore = process.TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                await relay.SubscribeAsync(observer);
            }
        })));
        wall.Stop();
        process.Refresh();
        rounds.Add(((process.TotalProcessorTime - cpuBefore).TotalMicroseconds / count, wall.Elapsed.TotalMicroseconds / count));
    }

    cpuMicroseconds = rounds.Select(static r => r.Cpu).Order().ElementAt(rounds.Count / 2);
    wallMicroseconds = rounds.Select(static r => r.Wall).Order().ElementAt(rounds.Count / 2);
    Console.WriteLine(JsonSerializer.Serialize(new
    {
        renewals = count,
        cpuMicrosecondsPerRenewal = Math.Round(cpuMicroseconds, 1),
        wallMicrosecondsPerRenewal8AtATime = Math.Round(wallMicroseconds, 1),
        coresFor1000ProcessesRenewingEvery2s = Math.Round(cpuMicroseconds * 500 / 1e6, 3),
        coresFor1000ProcessesRenewingEvery10s = Math.Round(cpuMicroseconds * 100 / 1e6, 3),
    }));
    await client.StopAsync();
    await silo.StopAsync();
    return 0;
}

// Runs each case for a batch, round after round, the cases interleaved so that the machine's
// noise falls on all of them alike; reports the median batch's time per operation.
static async Task<List<(string Name, double MedianNs, double MinNs, double MaxNs)>> Interleaved(int rounds, params (string Name, int Batch, Func<ValueTask> Operation)[] cases)
{
    var samples = cases.Select(static _ => new List<double>()).ToArray();
    for (var round = -3; round < rounds; round++)
    {
        for (var c = 0; c < cases.Length; c++)
        {
            var (_, batch, operation) = cases[c];
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < batch; i++)
            {
                await operation();
            }

            var ns = Stopwatch.GetElapsedTime(start).TotalNanoseconds / batch;
            if (round >= 0)
            {
                samples[c].Add(ns);
            }
        }
    }

    return [.. cases.Select((c, i) => (c.Name, Median(samples[i]), samples[i].Min(), samples[i].Max()))];
}

// GET /api/auth/session with no product logic: Kestrel, the session cookie's value read from the
// request's cookies, the session's bytes from a dictionary, the headers the silo's endpoint sends.
static async Task<int> BareHttpAsync(string url, string cookieName, string token, byte[] session)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.ClearProviders();
    builder.WebHost.UseUrls(url);
    var app = builder.Build();
    var sessions = new Dictionary<string, byte[]>(StringComparer.Ordinal) { [token] = session };
    var none = "null"u8.ToArray();
    app.MapGet("/api/auth/session", (HttpContext context) =>
    {
        var body = context.Request.Cookies[cookieName] is { } value && sessions.TryGetValue(value, out var found) ? found : none;
        context.Response.Headers.CacheControl = "private, no-cache, no-store";
        context.Response.Headers.Pragma = "no-cache";
        context.Response.Headers.Expires = "0";
        return Results.Bytes(body, "application/json");
    });
    await app.RunAsync();
    return 0;
}

// The value after "name=" up to the next ';', trimmed: enough of a parse for the floor's one header.
static ReadOnlySpan<char> CookieValue(string header, string prefix)
{
    var start = header.IndexOf(prefix, StringComparison.Ordinal);
    if (start < 0)
    {
        return default;
    }

    var value = header.AsSpan(start + prefix.Length);
    var end = value.IndexOf(';');
    return (end < 0 ? value : value[..end]).Trim(' ');
}

// Bytes this thread allocates per call of a lookup that completes synchronously (a hit), after warming up.
static double AllocatedPerCall<T>(Func<ValueTask<T>> lookup)
{
    for (var i = 0; i < 10_000; i++)
    {
        _ = lookup().Result;
    }

    const int Calls = 100_000;
    var before = GC.GetAllocatedBytesForCurrentThread();
    for (var i = 0; i < Calls; i++)
    {
        _ = lookup().Result;
    }

    return (GC.GetAllocatedBytesForCurrentThread() - before) / (double)Calls;
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted[sorted.Length / 2];
}

static void Print(List<(string Name, double MedianNs, double MinNs, double MaxNs)> results)
{
    Console.WriteLine("| Case | Median | Min | Max |");
    Console.WriteLine("| --- | ---: | ---: | ---: |");
    foreach (var (name, median, min, max) in results)
    {
        Console.WriteLine(FormattableString.Invariant($"| {name} | {median / 1000:F2} µs | {min / 1000:F2} µs | {max / 1000:F2} µs |"));
    }

    var baseline = results.First(static r => r.Name.StartsWith("bare", StringComparison.Ordinal)).MedianNs;
    Console.WriteLine(FormattableString.Invariant($"\nbare grain call / co-hosted hit = {baseline / results[0].MedianNs:F1}x"));
    if (results.FirstOrDefault(static r => r.Name.StartsWith("floor", StringComparison.Ordinal)) is { Name: not null } floor)
    {
        Console.WriteLine(FormattableString.Invariant($"co-hosted hit / floor = {results[0].MedianNs / floor.MedianNs:F2}x"));
    }
}

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

/// <summary>Builds an Auth.js-shaped session from the cookie's value: the memory benchmark's stand-in for resolution.</summary>
internal sealed class SyntheticResolver : ISessionResolver
{
    public static string Json(int i) =>
        $$"""{"user":{"name":"User {{i:D8}}","email":"user-{{i:D8}}@example.test","image":null,"id":"user-{{i:D8}}"},"expires":"2030-01-01T00:00:00.000Z"}""";

    public ValueTask<SessionLookupResult> LookupAsync(SessionRequest request, CancellationToken cancellationToken = default)
    {
        // The grain passes the session cookie as a pair: "authjs.session-token" = "session-<i>".
        var value = request.Cookies![0].Value;
        var i = int.Parse(value.AsSpan("session-".Length), CultureInfo.InvariantCulture);
        using var document = JsonDocument.Parse(Json(i));
        var session = AuthJsSession.FromDocument(document.RootElement, System.Text.Encoding.UTF8.GetBytes(Json(i)));
        return ValueTask.FromResult(SessionLookupResult.Found(session, Environment.GetEnvironmentVariable("NOUSER") is null ? $"user-{i:D8}" : null, issuedAt: null, validUntil: session.Expires));
    }
}

/// <summary>A subscriber for the renewal benchmark: it is never sent a notice.</summary>
internal sealed class IgnoringObserver : ISessionCacheObserver
{
    public Task OnInvalidatedAsync(InvalidationNotice[] notices) => Task.CompletedTask;
}

/// <summary>The memory floor: a grain with no state and no work, one activation per key.</summary>
public interface IEmptyGrain : IGrainWithStringKey
{
    Task PingAsync();
}

/// <summary>Holds nothing; Orleans' own cost of an activation.</summary>
public sealed class EmptyGrain : Grain, IEmptyGrain
{
    public Task PingAsync() => Task.CompletedTask;
}
