using System.Collections.Concurrent;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Contracts;

namespace SessionCache.Client.Internals;

/// <summary>
/// This process' copy of recent lookup results, so that a hit costs a dictionary read instead of a
/// grain call. It serves only while its subscription to a silo's invalidation relay is within its lease,
/// so a process the hub cannot reach stops serving within a bounded time; and an entry written by a
/// lookup that raced an invalidation is taken out again (see <see cref="Add"/>).
/// </summary>
/// <remarks>
/// Bad input at volume costs it nothing: entries are keyed by a fixed-size hash of the credential
/// (never the cookie itself, which can be 16 KiB), only answers that cost a grain call to get again
/// are kept (sessions, and sign-outs), and expired entries are swept every second. Entries are
/// indexed by user and by session grain key, so a sign-out notice costs the entries it names, not
/// the size of the cache.
/// </remarks>
internal sealed class NearCache : IDisposable
{
    // Enough recent notices for a session grain to tell whether one concerns it; a grain that
    // last checked before the oldest one kept simply asks its user's grain again.
    private const int NoticesKept = 1024;

    private static readonly TimeSpan SweepEvery = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<UInt128, Entry> _entries = new();

    // The indexes may name keys whose entry is gone (harmless: a notice checks the entry it finds);
    // they never miss a live one. An entry goes into _entries first and into its indexes after; a
    // key leaves an index only under that index's lock and only if _entries holds no entry of it
    // for that user or session, so an add racing a removal is either seen or re-indexes itself.
    private readonly ConcurrentDictionary<string, UserEntries> _byUser = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, UInt128> _bySession = new(StringComparer.Ordinal);
    private readonly Lock[] _sessionLocks = [.. Enumerable.Range(0, 64).Select(static _ => new Lock())];
    private readonly int _maxEntries;
    private readonly TimeProvider _clock;
    private readonly ITimer _sweeper;

    // Per process and secret: nobody outside can aim two credentials at one key.
    private readonly long _seed = BitConverter.ToInt64(RandomNumberGenerator.GetBytes(8));
    private readonly Notice?[] _notices = new Notice?[NoticesKept];
    private readonly Lock _noticesLock = new();
    private int _count;
    private long _epoch;

    // The clock's timestamp until which the relay is known to reach us: the same clock as the
    // entries' ages, so that a test's fake clock lapses a lease as it expires a session.
    private long _leaseUntil = long.MinValue;

    public NearCache(int maxEntries, TimeProvider clock)
    {
        _maxEntries = maxEntries;
        _clock = clock;
        _sweeper = clock.CreateTimer(static state => ((NearCache)state!).RemoveExpired(), this, SweepEvery, SweepEvery);
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>The near cache's key for a credential in canonical form: 128 bits, seeded per process.</summary>
    public UInt128 KeyOf(string canonical) => XxHash128.HashToUInt128(MemoryMarshal.AsBytes(canonical.AsSpan()), _seed);

    /// <summary>
    /// <see cref="KeyOf(string)"/> of <c>name=value\n</c> without building it: the hash is streamed
    /// over the parts, which gives the same 128 bits as hashing them joined.
    /// </summary>
    public UInt128 KeyOf(string name, ReadOnlySpan<char> value)
    {
        // One per thread, reset after each use; a thread that serves another near cache (tests host
        // several in a process) makes one with that cache's seed.
        if (t_hash is not { } hash || t_seed != _seed)
        {
            hash = t_hash = new XxHash128(_seed);
            t_seed = _seed;
        }

        hash.Append(MemoryMarshal.AsBytes(name.AsSpan()));
        hash.Append(MemoryMarshal.AsBytes("=".AsSpan()));
        hash.Append(MemoryMarshal.AsBytes(value));
        hash.Append(MemoryMarshal.AsBytes("\n".AsSpan()));
        var key = hash.GetCurrentHashAsUInt128();
        hash.Reset();
        return key;
    }

    [ThreadStatic]
    private static XxHash128? t_hash;

    [ThreadStatic]
    private static long t_seed;

    /// <summary>Changes whenever an invalidation arrives; read before a grain call, checked after.</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    public bool IsLeaseValid => _clock.GetTimestamp() < Interlocked.Read(ref _leaseUntil);

    /// <summary>Now, in the clock's timestamps: what a lease renewal is counted from.</summary>
    public long LeaseTimestamp() => _clock.GetTimestamp();

    public bool TryGet(UInt128 key, DateTimeOffset now, out SessionLookupResult result)
    {
        if (_clock.GetTimestamp() < Interlocked.Read(ref _leaseUntil)
            && _entries.TryGetValue(key, out var entry)
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
    public void Add(UInt128 key, string hash, CachedLookup lookup, long epochBeforeCall, DateTimeOffset now)
    {
        // "No session" and "invalid" are answered again at the cost of the call that got them
        // here: keeping them would let junk cookies fill the cache.
        if (lookup.Result.Status is not (SessionLookupStatus.Session or SessionLookupStatus.Revoked) || lookup.CacheUntil <= now || !IsLeaseValid)
        {
            return;
        }

        // Full: the sweeper frees expired entries within a second. Sweeping here instead would scan
        // every entry on every add while the cache stays full.
        if (Volatile.Read(ref _count) >= _maxEntries)
        {
            return;
        }

        var userKey = lookup.Result.UserId is { } userId ? SessionKeys.UserKeyOf(userId) : null;
        var entry = new Entry(lookup.Result, hash, userKey, lookup.CacheUntil.UtcTicks);
        _entries.AddOrUpdate(key, static (_, state) => state.Self.Added(state.Entry), static (_, _, state) => state.Entry, (Self: this, Entry: entry));
        Index(key, entry);
        Interlocked.MemoryBarrier();
        if (Interlocked.Read(ref _epoch) != epochBeforeCall)
        {
            Remove(key, entry);
        }
    }

    /// <summary>
    /// Whether a session grain in this process that was last confirmed by its user's grain at
    /// <paramref name="checkedEpoch"/> may keep serving its answer: this process is within its
    /// lease (the hub would have to wait for it) and no notice since names the session or its user
    /// (<paramref name="userKey"/>, <see cref="SessionKeys.UserKeyOf"/> of the user id).
    /// </summary>
    public bool IsStillValid(long checkedEpoch, string sessionKey, string? userKey)
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
                if (_notices[epoch % NoticesKept] is not { } notice || notice.Epoch != epoch || notice.Concerns(sessionKey, userKey))
                {
                    return false;
                }
            }

            return true;
        }
    }

    public void Invalidate(InvalidationNotice notice)
    {
        // The epoch moves first: an add that indexes itself after the lookups below sees it and
        // takes its entry out again.
        Record(notice);
        if (notice.UserKey is { } userKey && _byUser.TryGetValue(userKey, out var user))
        {
            UInt128[] keys;
            lock (user)
            {
                keys = user.ToArray();
            }

            foreach (var key in keys)
            {
                if (_entries.TryGetValue(key, out var entry) && string.Equals(entry.UserKey, userKey, StringComparison.Ordinal))
                {
                    Remove(key, entry);
                }
            }
        }

        foreach (var sessionKey in notice.SessionKeys)
        {
            if (_bySession.TryGetValue(sessionKey, out var key) && _entries.TryGetValue(key, out var entry) && string.Equals(entry.Hash, sessionKey, StringComparison.Ordinal))
            {
                Remove(key, entry);
            }
        }
    }

    /// <summary>The relay confirmed our subscription at <paramref name="confirmedSince"/> (<see cref="LeaseTimestamp"/>, taken before asking).</summary>
    public void ExtendLease(long confirmedSince, TimeSpan lease, bool missedNotices)
    {
        if (missedNotices)
        {
            // Notices may have been lost while the lease was lapsed or the hub restarted.
            Clear();
        }

        var until = confirmedSince + (long)(lease.TotalSeconds * _clock.TimestampFrequency);
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
        foreach (var (key, entry) in _entries)
        {
            Remove(key, entry);
        }
    }

    public void RemoveExpired()
    {
        var now = _clock.GetUtcNow().UtcTicks;
        foreach (var (key, entry) in _entries)
        {
            if (entry.CacheUntilTicks <= now)
            {
                Remove(key, entry);
            }
        }
    }

    public void Dispose() => _sweeper.Dispose();

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

    private void Remove(UInt128 key, Entry entry)
    {
        if (_entries.TryRemove(new KeyValuePair<UInt128, Entry>(key, entry)))
        {
            Interlocked.Decrement(ref _count);
            Unindex(key, entry);
        }
    }

    private void Index(UInt128 key, Entry entry)
    {
        lock (SessionLock(entry.Hash))
        {
            _bySession[entry.Hash] = key;
        }

        if (entry.UserKey is not { } userKey)
        {
            return;
        }

        while (true)
        {
            var user = _byUser.GetOrAdd(userKey, static _ => new UserEntries());
            lock (user)
            {
                // Emptied and dropped meanwhile: index into the user's new set.
                if (!user.Dropped)
                {
                    user.Add(key);
                    return;
                }
            }
        }
    }

    private void Unindex(UInt128 key, Entry entry)
    {
        lock (SessionLock(entry.Hash))
        {
            if (!_entries.TryGetValue(key, out var current) || !string.Equals(current.Hash, entry.Hash, StringComparison.Ordinal))
            {
                _bySession.TryRemove(new KeyValuePair<string, UInt128>(entry.Hash, key));
            }
        }

        if (entry.UserKey is not { } userKey || !_byUser.TryGetValue(userKey, out var user))
        {
            return;
        }

        lock (user)
        {
            if (!_entries.TryGetValue(key, out var current) || !string.Equals(current.UserKey, userKey, StringComparison.Ordinal))
            {
                user.Remove(key);
            }

            if (user.IsEmpty && !user.Dropped)
            {
                user.Dropped = true;
                _byUser.TryRemove(new KeyValuePair<string, UserEntries>(userKey, user));
            }
        }
    }

    private Lock SessionLock(string sessionKey) => _sessionLocks[(uint)string.GetHashCode(sessionKey, StringComparison.Ordinal) % (uint)_sessionLocks.Length];

    /// <summary>
    /// The keys of one user's entries; guarded by locking it. Most users have one session in a
    /// process: its key is kept inline, and a set is made only for a second one (a set costs
    /// about 220 bytes per user, a tenth of what a cached session costs beyond Orleans' own).
    /// </summary>
    private sealed class UserEntries
    {
        private UInt128 _only;
        private bool _hasOnly;
        private HashSet<UInt128>? _several;

        public bool IsEmpty => _several is null ? !_hasOnly : _several.Count == 0;

        public void Add(UInt128 key)
        {
            if (_several is not null)
            {
                _several.Add(key);
            }
            else if (!_hasOnly)
            {
                (_only, _hasOnly) = (key, true);
            }
            else if (_only != key)
            {
                _several = [_only, key];
            }
        }

        public void Remove(UInt128 key)
        {
            if (_several is not null)
            {
                _several.Remove(key);
            }
            else if (_hasOnly && _only == key)
            {
                _hasOnly = false;
            }
        }

        public UInt128[] ToArray() => _several is not null ? [.. _several] : _hasOnly ? [_only] : [];

        /// <summary>Taken out of the index once empty; an add that finds it so makes a new one.</summary>
        public bool Dropped { get; set; }
    }

    private sealed record Notice(long Epoch, InvalidationNotice? What)
    {
        public bool Concerns(string sessionKey, string? userKey) =>
            What is null
            || (userKey is not null && string.Equals(What.UserKey, userKey, StringComparison.Ordinal))
            || Array.IndexOf(What.SessionKeys, sessionKey) >= 0;
    }

    // A class, not a record: removal must match this very entry, not an equal one.
    private sealed class Entry(SessionLookupResult result, string hash, string? userKey, long cacheUntilTicks)
    {
        public SessionLookupResult Result { get; } = result;

        public string Hash { get; } = hash;

        public string? UserKey { get; } = userKey;

        public long CacheUntilTicks { get; } = cacheUntilTicks;
    }
}
