using System.Collections.Concurrent;
using System.Diagnostics;
using SessionCache.AuthJs;

namespace SessionCache.Processes.Tests.Infrastructure;

/// <summary>
/// Keeps looking sessions up through every path (each node's HTTP front, each client) while a
/// test breaks things, and counts what a user would have seen: lookups served, lookups failed (and
/// from when to when), and revoked sessions served, i.e. a session answered by a lookup that began
/// after the sign-out of its user had been confirmed.
/// </summary>
internal sealed class Load : IAsyncDisposable
{
    private readonly ProcessCluster _cluster;
    private readonly IReadOnlyList<(string User, string Cookie)> _sessions;

    // Each session's cookie as its device now holds it: devices that poll Auth.js get re-encoded copies.
    private readonly string[] _cookies;
    private long _rolled;
    private readonly ConcurrentDictionary<string, int> _failedByPath = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _signedOutAt = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<Task> _workers = [];
    private long _served;
    private long _failed;
    private long _revokedServed;
    private long _wronglyRefused;
    private readonly ConcurrentDictionary<string, bool> _signingOut = new(StringComparer.Ordinal);
    private long _firstFailure = -1;
    private long _lastFailure = -1;

    /// <param name="cluster">The processes.</param>
    /// <param name="sessions">The users' sessions, each as a cookie header.</param>
    /// <param name="workersPerPath">Lookup loops per node and per client.</param>
    /// <param name="rollingDevices">
    /// Loops that act as devices whose front end polls Auth.js itself (what <c>useSession</c> does):
    /// each takes the re-encoded cookie Auth.js sets, and every later lookup of that session uses it.
    /// </param>
    public Load(ProcessCluster cluster, IReadOnlyList<(string User, string Cookie)> sessions, int workersPerPath = 2, int rollingDevices = 0)
    {
        _cluster = cluster;
        _sessions = sessions;
        _cookies = [.. sessions.Select(static s => s.Cookie)];
        for (var d = 0; d < rollingDevices; d++)
        {
            var seed = d;
            _workers.Add(Task.Run(() => RollAsync(seed)));
        }

        for (var w = 0; w < workersPerPath; w++)
        {
            foreach (var node in cluster.Nodes)
            {
                _workers.Add(Task.Run(() => RunAsync(node.Name, cookie => LookUpAsync(node, cookie))));
            }

            for (var c = 0; c < cluster.Clients.Count; c++)
            {
                var client = cluster.Clients[c];
                var name = $"client-{c}";
                _workers.Add(Task.Run(() => RunAsync(name, async cookie =>
                {
                    var result = await client.LookupAsync(SessionRequest.FromCookieHeader(cookie), _stop.Token);
                    var outcome = ProcessCluster.ToOutcome(result);
                    if ((outcome == FrontOutcome.Failed || (outcome == FrontOutcome.NoSession && result.Status != SessionLookupStatus.Revoked)) && Examples.Count < 20)
                    {
                        // Why, by status and the cluster's own reason (exception types, never data).
                        Examples.Enqueue($"{name}: {result.Status} ({result.Reason})");
                    }

                    return outcome;
                })));
            }
        }
    }

    /// <summary>The first few wrong answers, for a failure's message.</summary>
    public ConcurrentQueue<string> Examples { get; } = new();

    public long Served => Interlocked.Read(ref _served);

    public long Failed => Interlocked.Read(ref _failed);

    public long RevokedServed => Interlocked.Read(ref _revokedServed);

    /// <summary>From the first failed lookup to the last, or zero without failures.</summary>
    public TimeSpan FailureWindow => _firstFailure < 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(_lastFailure - _firstFailure);

    public long Now => _clock.ElapsedMilliseconds;

    /// <summary>Cookies Auth.js re-encoded for devices that polled it.</summary>
    public long Rolled => Interlocked.Read(ref _rolled);

    /// <summary>The cookie the device of session <paramref name="index"/> holds now.</summary>
    public string CurrentCookie(int index) => Volatile.Read(ref _cookies[index]);

    /// <summary>A valid session answered "no session" (never right: not signed out, Auth.js accepts it).</summary>
    public long WronglyRefused => Interlocked.Read(ref _wronglyRefused);

    /// <summary>The user's sign-out has begun: "no session" is a right answer from now on.</summary>
    public void SigningOut(string user) => _signingOut[user] = true;

    /// <summary>From now on, any lookup of this user's sessions that begins must not serve them.</summary>
    public void SignedOut(string user) => _signedOutAt[user] = _clock.ElapsedMilliseconds;

    public async Task<string> StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_workers);
        return $"lookups served={Served}, failed={Failed} (first to last failure {FailureWindow.TotalSeconds:0.0} s), revoked sessions served={RevokedServed}, valid sessions refused={WronglyRefused}, cookies re-encoded by Auth.js={Rolled}{FailedPaths()}";
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _stop.Dispose();
    }

    private async Task<FrontOutcome> LookUpAsync(ClusterNode node, string cookie)
    {
        if (!node.IsRunning)
        {
            // A dead process is out of the load balancer: not a lookup anyone made.
            await Task.Delay(50, _stop.Token);
            return FrontOutcome.Down;
        }

        return (await node.SessionAsync(cookie, _stop.Token)).Outcome;
    }

    private async Task RunAsync(string path, Func<string, Task<FrontOutcome>> lookUp)
    {
        var random = new Random(path.GetHashCode(StringComparison.Ordinal));
        while (!_stop.IsCancellationRequested)
        {
            var index = random.Next(_sessions.Count);
            var user = _sessions[index].User;
            var cookie = Volatile.Read(ref _cookies[index]);
            var began = _clock.ElapsedMilliseconds;
            FrontOutcome outcome;
            try
            {
                outcome = await lookUp(cookie);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }

            switch (outcome)
            {
                case FrontOutcome.Session:
                    Interlocked.Increment(ref _served);
                    if (_signedOutAt.TryGetValue(user, out var signedOut) && began > signedOut && Interlocked.Increment(ref _revokedServed) <= 5)
                    {
                        Examples.Enqueue($"{path} served {user}, signed out at {signedOut} ms, in a lookup begun at {began} ms");
                    }

                    break;
                case FrontOutcome.NoSession:
                    Interlocked.Increment(ref _served);
                    if (!_signingOut.ContainsKey(user) && Interlocked.Increment(ref _wronglyRefused) <= 5)
                    {
                        Examples.Enqueue($"{path} refused {user} at {_clock.ElapsedMilliseconds} ms");
                    }

                    break;
                case FrontOutcome.Failed:
                    Interlocked.Increment(ref _failed);
                    _failedByPath.AddOrUpdate(path, 1, static (_, n) => n + 1);
                    var now = _clock.ElapsedMilliseconds;
                    Interlocked.CompareExchange(ref _firstFailure, now, -1);
                    Interlocked.Exchange(ref _lastFailure, now);
                    break;
                case FrontOutcome.Down:
                    // The node is paused or dead: a real load balancer would have taken it out.
                    break;
            }
        }
    }

    /// <summary>Where lookups failed, for the report: a killed process' in-flight requests fail on its own path.</summary>
    private string FailedPaths() =>
        _failedByPath.IsEmpty ? string.Empty : " (failed on " + string.Join(", ", _failedByPath.OrderBy(static p => p.Key, StringComparer.Ordinal).Select(static p => $"{p.Key} x{p.Value}")) + ")";

    /// <summary>A device polling Auth.js' own session endpoint, which re-encodes the JWT and sets the new cookie.</summary>
    private async Task RollAsync(int seed)
    {
        var random = new Random(seed);
        while (!_stop.IsCancellationRequested)
        {
            var index = random.Next(_sessions.Count);
            try
            {
                var (_, setCookies) = await _cluster.Auth.SessionEndpointWithCookiesAsync("/switch/auth", Volatile.Read(ref _cookies[index]));
                var rolled = setCookies.Select(static c => c.Split(';')[0]).FirstOrDefault(static c => c.StartsWith("authjs.session-token=", StringComparison.Ordinal) && c.Length > "authjs.session-token=".Length);
                if (rolled is not null)
                {
                    Volatile.Write(ref _cookies[index], rolled);
                    Interlocked.Increment(ref _rolled);
                }

                // A few re-encodes a second: each is a new cookie, so a cache miss on every path; the
                // rest of the load keeps exercising cache hits while the faults strike.
                await Task.Delay(200, _stop.Token);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
        }
    }
}
