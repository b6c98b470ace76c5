namespace SessionCache.Grains;

/// <summary>
/// How many session grains of this silo may keep a "no session" or "invalid" answer alive
/// (<c>SessionCache:NegativeCacheAge</c>, proxy and database modes). Beyond it such answers are
/// given and the activation freed at once: a flood of distinct junk cookies then costs one
/// resolution each, as it would without the cache, but no memory.
/// </summary>
internal sealed class NegativeAnswers(int maxHeld = NegativeAnswers.MaxHeld)
{
    /// <summary>Enough for every repeated bad cookie of a busy site; a few megabytes of activations.</summary>
    public const int MaxHeld = 10_000;

    private int _held;

    public int Held => Volatile.Read(ref _held);

    public bool TryTake()
    {
        if (Interlocked.Increment(ref _held) <= maxHeld)
        {
            return true;
        }

        Interlocked.Decrement(ref _held);
        return false;
    }

    public void Release() => Interlocked.Decrement(ref _held);
}
