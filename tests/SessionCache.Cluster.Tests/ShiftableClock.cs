namespace SessionCache.Cluster.Tests;

/// <summary>
/// Real time plus an offset that tests move forward: sessions expire "later" without waiting,
/// while the tokens Auth.js mints (stamped with real time) stay comparable with it.
/// </summary>
public sealed class ShiftableClock : TimeProvider
{
    private long _offsetTicks;

    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + Offset;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);
}
