using Microsoft.Extensions.Logging;
using SessionCache.AuthJs;

namespace SessionCache.Grains;

/// <summary>
/// When each session grain of this silo is due to go, in one schedule with one timer for the silo:
/// a grain timer per activation cost about 800 bytes (the timer, its queue entry, its callback and
/// the activation's extra dictionary that holds it), a sixth of what a cached session costs.
/// Seconds are read on the session clock, so a test's fake clock expires grains as it moves; a
/// grain goes within two seconds of its time (every lookup checks its answer's age itself).
/// </summary>
internal sealed partial class SessionExpiry : IDisposable
{
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    private readonly Lock _lock = new();
    private readonly Dictionary<long, HashSet<SessionGrain>> _bySecond = [];
    private readonly TimeProvider _clock;
    private readonly ILogger _logger;
    private readonly ITimer _timer;

    public SessionExpiry(IServiceProvider services, ILogger<SessionExpiry> logger)
    {
        _clock = SessionCacheClock.Get(services);
        _logger = logger;

        // Ticks on real time: a fake session clock need not run timers, only tell the time.
        _timer = TimeProvider.System.CreateTimer(static state => ((SessionExpiry)state!).ExpireDue(), this, Tick, Tick);
    }

    /// <summary>Schedules <paramref name="grain"/> to go at <paramref name="at"/>, replacing what it was scheduled for.</summary>
    public void Schedule(SessionGrain grain, DateTimeOffset at)
    {
        // Rounded up: never before its time.
        var second = (at.UtcTicks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond;
        lock (_lock)
        {
            if (grain.ExpirySecond == second)
            {
                return;
            }

            Unschedule(grain);
            if (!_bySecond.TryGetValue(second, out var grains))
            {
                _bySecond[second] = grains = new HashSet<SessionGrain>(ReferenceEqualityComparer.Instance);
            }

            grains.Add(grain);
            grain.ExpirySecond = second;
        }
    }

    /// <summary>Forgets <paramref name="grain"/> (it is going anyway), so the schedule holds no deactivated grain.</summary>
    public void Cancel(SessionGrain grain)
    {
        lock (_lock)
        {
            Unschedule(grain);
        }
    }

    public void Dispose() => _timer.Dispose();

    private void ExpireDue()
    {
        var now = _clock.GetUtcNow().UtcTicks / TimeSpan.TicksPerSecond;
        List<SessionGrain>? due = null;
        lock (_lock)
        {
            foreach (var (second, grains) in _bySecond)
            {
                if (second <= now)
                {
                    due ??= [];
                    foreach (var grain in grains)
                    {
                        grain.ExpirySecond = 0;
                        due.Add(grain);
                    }

                    _bySecond.Remove(second);
                }
            }
        }

        // Outside the lock: a deactivation is queued on the grain's own scheduler. One that cannot
        // be (the silo stopping) must not end the process from a timer callback.
        foreach (var grain in due ?? [])
        {
            try
            {
                grain.Expire();
            }
            catch (Exception exception) when (exception is ObjectDisposedException or InvalidOperationException)
            {
                LogExpiryFailed(_logger, exception.GetType().Name);
            }
        }
    }

    private void Unschedule(SessionGrain grain)
    {
        if (grain.ExpirySecond != 0 && _bySecond.TryGetValue(grain.ExpirySecond, out var grains))
        {
            grains.Remove(grain);
            if (grains.Count == 0)
            {
                _bySecond.Remove(grain.ExpirySecond);
            }
        }

        grain.ExpirySecond = 0;
    }

    [LoggerMessage(EventId = 2007, Level = LogLevel.Debug, Message = "An expired session grain could not be deactivated ({Exception}); the silo is likely stopping")]
    private static partial void LogExpiryFailed(ILogger logger, string exception);
}
