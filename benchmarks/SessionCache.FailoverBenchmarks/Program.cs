using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SessionCache.AuthJs;
using SessionCache.Processes.Tests.Infrastructure;
using StackExchange.Redis;

// Usage: SessionCache.FailoverBenchmarks [signouts] [kill-trials]
var signOuts = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200;
var killTrials = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
var cluster = new ProcessCluster();
await cluster.InitializeAsync();
try
{
    await SignOutAsync(cluster, signOuts);
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
