using System.Collections.Concurrent;
using SessionCache.AuthJs;
using SessionCache.Contracts;

namespace SessionCache.Client.Internals;

/// <summary>
/// This process' copy of recent lookup results, so that a hit costs a dictionary read instead of a
/// grain call. It serves only while its subscription to the invalidation hub is within its lease,
/// so a process the hub cannot reach stops serving within a bounded time; and an entry written by a
/// lookup that raced an invalidation is taken out again (see <see cref="Add"/>).
/// </summary>
internal sealed class NearCache(int maxEntries)
{
    // Enough recent notices for a session grain to tell whether one concerns it; a grain that
    // last checked before the oldest one kept simply asks its user's grain again.
    private const int NoticesKept = 1024;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Notice?[] _notices = new Notice?[NoticesKept];
    private readonly Lock _noticesLock = new();
    private int _count;
    private long _epoch;

    // Environment.TickCount64 (monotonic milliseconds) until which the hub is known to reach us.
    private long _leaseUntil = long.MinValue;

    public int Count => Volatile.Read(ref _count);

    /// <summary>Changes whenever an invalidation arrives; read before a grain call, checked after.</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    public bool IsLeaseValid => Environment.TickCount64 < Interlocked.Read(ref _leaseUntil);

    public bool TryGet(string canonical, DateTimeOffset now, out SessionLookupResult result)
    {
        if (Environment.TickCount64 < Interlocked.Read(ref _leaseUntil)
            && _entries.TryGetValue(canonical, out var entry)
            && now.UtcTicks < entry.CacheUntilTicks)
        {
            result = entry.Result;
            return true;
        }

        result = null!;
        return false;
    }

    /// <summary>
    /// Keeps a grain's answer. If an invalidation arrived since <paramref name="epochBeforeCall"/>
    /// the answer may predate it, so it is removed again: either the invalidation's sweep saw the
    /// entry, or this check sees the new epoch (both sides write, fence, then read).
    /// </summary>
    public void Add(string canonical, string hash, CachedLookup lookup, long epochBeforeCall, DateTimeOffset now)
    {
        if (lookup.CacheUntil <= now || !IsLeaseValid)
        {
            return;
        }

        if (Volatile.Read(ref _count) >= maxEntries)
        {
            RemoveExpired(now);
            if (Volatile.Read(ref _count) >= maxEntries)
            {
                return;
            }
        }

        var entry = new Entry(lookup.Result, hash, lookup.Result.UserId, lookup.CacheUntil.UtcTicks);
        _entries.AddOrUpdate(canonical, static (_, state) => state.Self.Added(state.Entry), static (_, _, state) => state.Entry, (Self: this, Entry: entry));
        Interlocked.MemoryBarrier();
        if (Interlocked.Read(ref _epoch) != epochBeforeCall)
        {
            Remove(canonical, entry);
        }
    }

    /// <summary>
    /// Whether a session grain in this process that was last confirmed by its user's grain at
    /// <paramref name="checkedEpoch"/> may keep serving its answer: this process is within its
    /// lease (the hub would have to wait for it) and no notice since names the session or its user.
    /// </summary>
    public bool IsStillValid(long checkedEpoch, string sessionKey, string? userId)
    {
        if (!IsLeaseValid)
        {
            return false;
        }

        if (Interlocked.Read(ref _epoch) == checkedEpoch)
        {
            return true;
        }

        lock (_noticesLock)
        {
            var current = Interlocked.Read(ref _epoch);
            if (current - checkedEpoch > NoticesKept)
            {
                return false;
            }

            for (var epoch = checkedEpoch + 1; epoch <= current; epoch++)
            {
                if (_notices[epoch % NoticesKept] is not { } notice || notice.Epoch != epoch || notice.Concerns(sessionKey, userId))
                {
                    return false;
                }
            }

            return true;
        }
    }

    public void Invalidate(InvalidationNotice notice)
    {
        Record(notice);
        var keys = notice.SessionKeys.Length == 0 ? null : new HashSet<string>(notice.SessionKeys, StringComparer.Ordinal);
        foreach (var (canonical, entry) in _entries)
        {
            if ((notice.UserId is not null && string.Equals(entry.UserId, notice.UserId, StringComparison.Ordinal))
                || (keys is not null && keys.Contains(entry.Hash)))
            {
                Remove(canonical, entry);
            }
        }
    }

    /// <summary>The hub confirmed our subscription at <paramref name="confirmedSince"/> (ticks taken before asking).</summary>
    public void ExtendLease(long confirmedSince, TimeSpan lease, bool missedNotices)
    {
        if (missedNotices)
        {
            // Notices may have been lost while the lease was lapsed or the hub restarted.
            Clear();
        }

        var until = confirmedSince + (long)lease.TotalMilliseconds;
        long current;
        do
        {
            current = Interlocked.Read(ref _leaseUntil);
            if (until <= current)
            {
                return;
            }
        }
        while (Interlocked.CompareExchange(ref _leaseUntil, until, current) != current);
    }

    public void EndLease() => Interlocked.Exchange(ref _leaseUntil, long.MinValue);

    public void Clear()
    {
        Record(null);
        foreach (var (canonical, entry) in _entries)
        {
            Remove(canonical, entry);
        }
    }

    public void RemoveExpired(DateTimeOffset now)
    {
        foreach (var (canonical, entry) in _entries)
        {
            if (entry.CacheUntilTicks <= now.UtcTicks)
            {
                Remove(canonical, entry);
            }
        }
    }

    /// <summary>Advances the epoch and logs what it was for; <see langword="null"/> concerns every session.</summary>
    private void Record(InvalidationNotice? notice)
    {
        lock (_noticesLock)
        {
            var epoch = Interlocked.Increment(ref _epoch);
            _notices[epoch % NoticesKept] = new Notice(epoch, notice);
        }
    }

    private Entry Added(Entry entry)
    {
        Interlocked.Increment(ref _count);
        return entry;
    }

    private void Remove(string canonical, Entry entry)
    {
        if (_entries.TryRemove(new KeyValuePair<string, Entry>(canonical, entry)))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    private sealed record Notice(long Epoch, InvalidationNotice? What)
    {
        public bool Concerns(string sessionKey, string? userId) =>
            What is null
            || (userId is not null && string.Equals(What.UserId, userId, StringComparison.Ordinal))
            || Array.IndexOf(What.SessionKeys, sessionKey) >= 0;
    }

    // A class, not a record: removal must match this very entry, not an equal one.
    private sealed class Entry(SessionLookupResult result, string hash, string? userId, long cacheUntilTicks)
    {
        public SessionLookupResult Result { get; } = result;

        public string Hash { get; } = hash;

        public string? UserId { get; } = userId;

        public long CacheUntilTicks { get; } = cacheUntilTicks;
    }
}
