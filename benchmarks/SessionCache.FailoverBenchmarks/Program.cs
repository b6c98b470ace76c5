using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SessionCache.AuthJs;
using SessionCache.Processes.Tests.Infrastructure;
using StackExchange.Redis;

// Usage: SessionCache.FailoverBenchmarks [signouts] [kill-trials] [throughput-users] [throughput-callers]
//    or: SessionCache.FailoverBenchmarks fusioncache [stampede-trials] [sign-out-trials] [redis-restart-trials]
if (args is ["fusioncache", ..])
{
    int Trials(int index, int otherwise) => args.Length > index + 1 ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : otherwise;
    var versus = new ProcessCluster();
    await versus.InitializeAsync();
    try
    {
        await FusionCacheComparison.RunAsync(versus, Trials(0, 5), Trials(1, 200), Trials(2, 6));
    }
    finally
    {
        await versus.DisposeAsync();
    }

    return 0;
}

var signOuts = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200;
var killTrials = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
var throughputUsers = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5000;
var throughputCallers = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 64;
var cluster = new ProcessCluster();
await cluster.InitializeAsync();
try
{
    await SignOutAsync(cluster, signOuts);
    await ThroughputAsync(cluster, throughputUsers, throughputCallers);
    await KillAsync(cluster, killTrials);
}
finally
{
    await cluster.DisposeAsync();
}

return 0;

// Sign-out to refusal everywhere, next to the closest Redis equivalent: a SET and a PUBLISH awaited
// by as many subscribers as the cluster has processes that cache (3 silos, the web app, 2 clients).
static async Task SignOutAsync(ProcessCluster cluster, int count)
{
    const int Subscribers = 6;
    using var publisher = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.ConnectionString);
    var subscribers = new List<ConnectionMultiplexer>();
    var pending = 0;
    TaskCompletionSource? allHeard = null;
    for (var i = 0; i < Subscribers; i++)
    {
        var subscriber = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.ConnectionString);
        await subscriber.GetSubscriber().SubscribeAsync(RedisChannel.Literal("signed-out"), (_, _) =>
        {
            if (Interlocked.Decrement(ref pending) == 0)
            {
                allHeard!.TrySetResult();
            }
        });
        subscribers.Add(subscriber);
    }

    var ours = new List<double>();
    var redis = new List<double>();
    var violations = 0;
    for (var i = 0; i < count; i++)
    {
        var user = $"bench-{Guid.NewGuid():N}";
        var cookie = await cluster.SignInAsync(user);
        if ((await cluster.LookUpEverywhereAsync(cookie)).Any(static a => a.Outcome != FrontOutcome.Session))
        {
            throw new InvalidOperationException("a session did not resolve everywhere");
        }

        var watch = Stopwatch.StartNew();
        await cluster.Client.InvalidateUserAsync(user);
        ours.Add(watch.Elapsed.TotalMilliseconds);
        violations += (await cluster.LookUpEverywhereAsync(cookie)).Count(static a => a.Outcome == FrontOutcome.Session);

        pending = Subscribers;
        allHeard = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        watch.Restart();
        await publisher.GetDatabase().StringSetAsync("revoked:" + user, "1");
        await publisher.GetSubscriber().PublishAsync(RedisChannel.Literal("signed-out"), user);
        await allHeard.Task;
        redis.Add(watch.Elapsed.TotalMilliseconds);
    }

    foreach (var subscriber in subscribers)
    {
        await subscriber.DisposeAsync();
    }

    Console.WriteLine(JsonSerializer.Serialize(new
    {
        benchmark = "sign-out until refused on every process (3 silos, web app, 2 clients)",
        signOuts = count,
        medianMs = Percentile(ours, 0.5),
        p99Ms = Percentile(ours, 0.99),
        servedAfterSignOut = violations,
        redisSetPublishAwaitedBy6MedianMs = Percentile(redis, 0.5),
        redisSetPublishAwaitedBy6P99Ms = Percentile(redis, 0.99),
        p99Ratio = Math.Round(Percentile(ours, 0.99) / Percentile(redis, 0.99), 2),
    }));
}

// Sustained sign-outs: as many users as asked, each session cached in both clients and behind
// every HTTP front, signed out by concurrent callers through the client as fast as the cluster
// confirms. Each confirmed sign-out is checked at once through both clients; at the end every
// session is checked on every path. Lost: a sign-out that failed, or a session still served.
static async Task ThroughputAsync(ProcessCluster cluster, int users, int callers)
{
    var sessions = new List<(string User, string Cookie)>();
    for (var i = 0; i < users; i++)
    {
        var user = $"burst-{Guid.NewGuid():N}";
        sessions.Add((user, await cluster.SignInAsync(user)));
    }

    using (var warming = new SemaphoreSlim(16))
    {
        await Task.WhenAll(sessions.Select(async s =>
        {
            await warming.WaitAsync();
            try
            {
                foreach (var client in cluster.Clients)
                {
                    if (ProcessCluster.ToOutcome(await client.LookupAsync(SessionRequest.FromCookieHeader(s.Cookie))) != FrontOutcome.Session)
                    {
                        throw new InvalidOperationException("a session did not resolve");
                    }
                }

                foreach (var node in cluster.Nodes)
                {
                    await node.SessionAsync(s.Cookie);
                }
            }
            finally
            {
                warming.Release();
            }
        }));
    }

    // Callers only sign out; four checkers look each confirmed session up through both clients
    // while the sign-outs go on (a revoked session's grain was forgotten, so a check re-resolves
    // it upstream before the user's grain refuses it: checking is the costlier part).
    var next = -1;
    var failed = 0;
    var servedAfter = 0;
    var latencies = new double[users];
    var confirmedAt = new double[users];
    var checks = System.Threading.Channels.Channel.CreateUnbounded<int>();
    var clock = Stopwatch.StartNew();
    var checkers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
    {
        await foreach (var i in checks.Reader.ReadAllAsync())
        {
            foreach (var client in cluster.Clients)
            {
                if (ProcessCluster.ToOutcome(await client.LookupAsync(SessionRequest.FromCookieHeader(sessions[i].Cookie))) == FrontOutcome.Session)
                {
                    Interlocked.Increment(ref servedAfter);
                }
            }
        }
    })).ToArray();
    await Task.WhenAll(Enumerable.Range(0, callers).Select(_ => Task.Run(async () =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < users)
        {
            var started = clock.Elapsed;
            try
            {
                await cluster.Client.InvalidateUserAsync(sessions[i].User);
            }
            catch (Exception)
            {
                Interlocked.Increment(ref failed);
                continue;
            }

            confirmedAt[i] = clock.Elapsed.TotalMilliseconds;
            latencies[i] = confirmedAt[i] - started.TotalMilliseconds;
            checks.Writer.TryWrite(i);
        }
    })));
    var elapsed = TimeSpan.FromMilliseconds(confirmedAt.Max());
    checks.Writer.Complete();
    await Task.WhenAll(checkers);

    var stillServed = 0;
    using (var checking = new SemaphoreSlim(16))
    {
        await Task.WhenAll(sessions.Select(async s =>
        {
            await checking.WaitAsync();
            try
            {
                var answers = await cluster.LookUpEverywhereAsync(s.Cookie);
                if (answers.Any(static a => a.Outcome == FrontOutcome.Session))
                {
                    Interlocked.Increment(ref stillServed);
                }
            }
            finally
            {
                checking.Release();
            }
        }));
    }

    var confirmed = latencies.Where(static l => l > 0).ToList();
    Console.WriteLine(JsonSerializer.Serialize(new
    {
        benchmark = "sustained sign-outs (3 silos, web app, 2 clients)",
        users,
        callers,
        seconds = Math.Round(elapsed.TotalSeconds, 2),
        confirmedPerSecond = Math.Round(confirmed.Count / elapsed.TotalSeconds),
        medianMs = Percentile(confirmed, 0.5),
        p99Ms = Percentile(confirmed, 0.99),
        failedSignOuts = failed,
        servedRightAfterConfirmation = servedAfter,
        servedOnAnyPathAtTheEnd = stillServed,
    }));
}

// A silo SIGKILLed and restarted under client load: time until every session it held is served
// again, and lookups per second through both clients, in half-second buckets.
static async Task KillAsync(ProcessCluster cluster, int trials)
{
    var sessions = new List<string>();
    for (var i = 0; i < 150; i++)
    {
        sessions.Add(await cluster.SignInAsync($"kill-{Guid.NewGuid():N}"));
    }

    for (var trial = 0; trial < trials; trial++)
    {
        foreach (var cookie in sessions)
        {
            if (ProcessCluster.ToOutcome(await cluster.GrainClient.LookupAsync(SessionRequest.FromCookieHeader(cookie))) != FrontOutcome.Session)
            {
                throw new InvalidOperationException("a session did not resolve");
            }
        }

        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var counters = cluster.Clients.Select(_ => new Buckets()).ToArray();
        var workers = cluster.Clients.SelectMany((client, c) => Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            while (!stop.IsCancellationRequested)
            {
                var result = await client.LookupAsync(SessionRequest.FromCookieHeader(sessions[random.Next(sessions.Count)]));
                counters[c].Add(clock.ElapsedMilliseconds, result.Status == SessionLookupStatus.Session);
            }
        }))).ToArray();

        await Task.Delay(3000);
        var victim = cluster.Silos[trial % cluster.Silos.Count];
        var killedAt = clock.ElapsedMilliseconds;
        victim.Kill();
        double recoveredMs;
        while (true)
        {
            var outcomes = await Task.WhenAll(sessions.Select(async s => ProcessCluster.ToOutcome(await cluster.GrainClient.LookupAsync(SessionRequest.FromCookieHeader(s)))));
            if (outcomes.All(static o => o == FrontOutcome.Session))
            {
                recoveredMs = clock.ElapsedMilliseconds - killedAt;
                break;
            }
        }

        var restartAt = clock.ElapsedMilliseconds;
        await cluster.RestartAsync(victim);
        var rejoinedMs = clock.ElapsedMilliseconds - restartAt;
        await Task.Delay(3000);
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            benchmark = "silo SIGKILL and restart under client load",
            trial,
            everySessionServedAgainAfterMs = recoveredMs,
            restartedSiloActiveAfterMs = rejoinedMs,
            nearCacheClient = counters[0].Summary(killedAt, restartAt),
            grainClient = counters[1].Summary(killedAt, restartAt),
        }));
    }
}

static double Percentile(List<double> values, double p)
{
    var sorted = values.Order().ToArray();
    return Math.Round(sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * p))], 2);
}

/// <summary>Lookups served and failed per half second.</summary>
internal sealed class Buckets
{
    private readonly Dictionary<long, (long Served, long Failed)> _buckets = [];

    public void Add(long elapsedMs, bool served)
    {
        lock (_buckets)
        {
            var bucket = elapsedMs / 500;
            var (s, f) = _buckets.GetValueOrDefault(bucket);
            _buckets[bucket] = served ? (s + 1, f) : (s, f + 1);
        }
    }

    public object Summary(long killedAtMs, long restartAtMs)
    {
        lock (_buckets)
        {
            double PerSecond(IEnumerable<KeyValuePair<long, (long Served, long Failed)>> buckets)
            {
                var rates = buckets.Select(static b => b.Value.Served * 2.0).Order().ToArray();
                return rates.Length == 0 ? 0 : Math.Round(rates[rates.Length / 2]);
            }

            var complete = _buckets.Where(b => b.Key < _buckets.Keys.Max()).ToList();
            var before = complete.Where(b => (b.Key + 1) * 500 <= killedAtMs);
            var outage = complete.Where(b => b.Key * 500 >= killedAtMs && b.Key * 500 < restartAtMs).ToList();
            var after = complete.Where(b => b.Key * 500 >= restartAtMs);
            return new
            {
                medianPerSecondBeforeKill = PerSecond(before),
                medianPerSecondWhileDown = PerSecond(outage),
                lowestPerSecondWhileDown = outage.Count == 0 ? 0 : outage.Min(static b => b.Value.Served * 2),
                medianPerSecondAfterRestart = PerSecond(after),
                failedLookups = _buckets.Values.Sum(static b => b.Failed),
            };
        }
    }
}
