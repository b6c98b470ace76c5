using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Numerics;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// This process' session cache instruments, on the <c>SessionCache</c> meter next to Orleans'
/// own: readable by <c>dotnet-counters monitor --counters SessionCache</c>, exported by
/// OpenTelemetry when configured, and snapshotted once a second for the cluster's dashboard.
/// Counts live in per-processor cells, so that a near-cache hit (well under a microsecond) does not
/// contend on one cache line; the observable instruments sum them when read.
/// </summary>
internal sealed class SessionCacheMetrics : IDisposable
{
    /// <summary>The meter's name, for <c>dotnet-counters</c> and OpenTelemetry's <c>AddMeter</c>.</summary>
    public const string MeterName = "SessionCache";

    /// <summary>Upper bounds of the latency buckets, in seconds; the last bucket is unbounded.</summary>
    public static readonly double[] LatencyBounds =
    [
        0.000_001, 0.000_002, 0.000_005, 0.000_01, 0.000_02, 0.000_05, 0.000_1, 0.000_2, 0.000_5,
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10,
    ];

    private const int Lookups = 0, NearHits = 1, GrainHits = 2, Misses = 3, UpstreamCalls = 4, UpstreamErrors = 5,
        UserInvalidations = 6, SessionInvalidations = 7, FailSafeAnswers = 8, FirstBucket = 9;

    private static readonly double TicksToSeconds = 1.0 / Stopwatch.Frequency;
    private static readonly long[] BoundTicks = [.. LatencyBounds.Select(static b => (long)(b * Stopwatch.Frequency))];

    private readonly StripedCounters _counts = new(FirstBucket + LatencyBounds.Length + 1);
    private readonly Meter _meter;
    private readonly Histogram<double> _duration;
    private long _liveSessions;

    public SessionCacheMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName, "1.0") ?? new Meter(MeterName, "1.0");
        _meter.CreateObservableCounter("sessioncache.lookups", () => _counts.Sum(Lookups), "{lookup}",
            "Session lookups asked of this process, answered from its near cache or by the cluster.");
        _meter.CreateObservableCounter("sessioncache.hits", () => new[]
        {
            new Measurement<long>(_counts.Sum(NearHits), new KeyValuePair<string, object?>("sessioncache.cache", "near")),
            new Measurement<long>(_counts.Sum(GrainHits), new KeyValuePair<string, object?>("sessioncache.cache", "grain")),
        }, "{lookup}", "Lookups answered from a cache: this process' near cache, or a session grain on this silo.");
        _meter.CreateObservableCounter("sessioncache.misses", () => _counts.Sum(Misses), "{lookup}",
            "Lookups a session grain on this silo had to resolve (locally, from the database or from Auth.js).");
        _meter.CreateObservableCounter("sessioncache.upstream.calls", () => _counts.Sum(UpstreamCalls), "{call}",
            "Resolutions sent to the Auth.js server (proxy mode) or the session database (database strategy).");
        _meter.CreateObservableCounter("sessioncache.upstream.errors", () => _counts.Sum(UpstreamErrors), "{call}",
            "Resolutions that failed because of the upstream: timeouts, refused connections, 5xx and 429 answers, database errors, an open circuit.");
        _meter.CreateObservableCounter("sessioncache.failsafe", () => _counts.Sum(FailSafeAnswers), "{lookup}",
            "Sessions served past their cache age by a session grain on this silo because upstream was failing (SessionCache:FailSafeMaxAge).");
        _meter.CreateObservableCounter("sessioncache.invalidations", () => new[]
        {
            new Measurement<long>(_counts.Sum(UserInvalidations), new KeyValuePair<string, object?>("sessioncache.scope", "user")),
            new Measurement<long>(_counts.Sum(SessionInvalidations), new KeyValuePair<string, object?>("sessioncache.scope", "session")),
        }, "{invalidation}", "Sign-outs carried out by grains on this silo: every session of a user, or one session.");
        _meter.CreateObservableUpDownCounter("sessioncache.sessions.live", () => Volatile.Read(ref _liveSessions), "{session}",
            "Sessions cached by session grains on this silo.");
        _duration = _meter.CreateHistogram("sessioncache.lookup.duration", "s",
            "Time to answer a session lookup in this process, near-cache hits included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBounds });
    }

    /// <summary>A stopwatch timestamp to pass to <see cref="LookupCompleted"/>.</summary>
    public static long Start() => Stopwatch.GetTimestamp();

    /// <summary>Counts a lookup of this process and its latency.</summary>
    public void LookupCompleted(long started, bool nearHit)
    {
        var elapsed = Stopwatch.GetTimestamp() - started;
        var bucket = 0;
        while (bucket < BoundTicks.Length && elapsed > BoundTicks[bucket])
        {
            bucket++;
        }

        var row = _counts.Row();
        _counts.Increment(row, Lookups);
        _counts.Increment(row, FirstBucket + bucket);
        if (nearHit)
        {
            _counts.Increment(row, NearHits);
        }

        if (_duration.Enabled)
        {
            _duration.Record(elapsed * TicksToSeconds);
        }
    }

    /// <summary>A session grain answered from its cache (<paramref name="resolved"/> false) or resolved.</summary>
    public void GrainAnswered(bool resolved) => _counts.Increment(_counts.Row(), resolved ? Misses : GrainHits);

    /// <summary>A session grain served a session past its cache age, upstream failing.</summary>
    public void FailSafeServed() => _counts.Increment(_counts.Row(), FailSafeAnswers);

    /// <summary>A resolution was sent to the Auth.js server or the database (retries included in one).</summary>
    public void UpstreamCalled() => _counts.Increment(_counts.Row(), UpstreamCalls);

    /// <summary>A resolution failed because of the Auth.js server or the database, sent or refused by an open circuit.</summary>
    public void UpstreamFailed() => _counts.Increment(_counts.Row(), UpstreamErrors);

    /// <summary>A grain on this silo carried out a sign-out of a user or of one session.</summary>
    public void Invalidated(bool wholeUser) => _counts.Increment(_counts.Row(), wholeUser ? UserInvalidations : SessionInvalidations);

    /// <summary>A session grain on this silo started (+1) or stopped (-1) caching a session.</summary>
    public void LiveSessionsChanged(int delta) => Interlocked.Add(ref _liveSessions, delta);

    /// <summary>Totals since this process started, for the dashboard and the command-line client.</summary>
    public MetricsTotals Totals()
    {
        var buckets = new long[LatencyBounds.Length + 1];
        for (var i = 0; i < buckets.Length; i++)
        {
            buckets[i] = _counts.Sum(FirstBucket + i);
        }

        return new MetricsTotals(
            _counts.Sum(Lookups), _counts.Sum(NearHits), _counts.Sum(GrainHits), _counts.Sum(Misses),
            _counts.Sum(UpstreamCalls), _counts.Sum(UpstreamErrors), _counts.Sum(UserInvalidations),
            _counts.Sum(SessionInvalidations), Volatile.Read(ref _liveSessions), buckets);
    }

    public void Dispose() => _meter.Dispose();

    /// <summary>Counters striped over processors: each row is padded onto its own cache lines.</summary>
    private sealed class StripedCounters
    {
        private readonly long[] _cells;
        private readonly int _stride;
        private readonly int _mask;

        public StripedCounters(int counters)
        {
            var rows = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(Environment.ProcessorCount, 1, 64));
            _mask = rows - 1;
            _stride = ((counters + 7) / 8 * 8) + 8;
            _cells = new long[rows * _stride];
        }

        public int Row() => (Thread.GetCurrentProcessorId() & _mask) * _stride;

        public void Increment(int row, int counter) => Interlocked.Increment(ref _cells[row + counter]);

        public long Sum(int counter)
        {
            long sum = 0;
            for (var row = 0; row < _cells.Length; row += _stride)
            {
                sum += Volatile.Read(ref _cells[row + counter]);
            }

            return sum;
        }
    }
}

/// <summary>One process' counts since it started.</summary>
internal sealed record MetricsTotals(
    long Lookups,
    long NearHits,
    long GrainHits,
    long Misses,
    long UpstreamCalls,
    long UpstreamErrors,
    long UserInvalidations,
    long SessionInvalidations,
    long LiveSessions,
    long[] LatencyBuckets);
