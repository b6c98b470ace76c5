using System.Text;
using Microsoft.Extensions.Time.Testing;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Client.Internals;
using SessionCache.Contracts;

namespace SessionCache.Cluster.Tests;

/// <summary>The near cache's indexes: a notice removes exactly what it names, also against concurrent adds.</summary>
[Trait("Category", "Unit")]
public sealed class NearCacheTests
{
    private static readonly DateTimeOffset Until = DateTimeOffset.UtcNow.AddHours(1);

    private static NearCache Leased(int maxEntries = 10_000)
    {
        var near = new NearCache(maxEntries, TimeProvider.System);
        near.ExtendLease(near.LeaseTimestamp(), TimeSpan.FromMinutes(10), missedNotices: false);
        return near;
    }

    [Fact]
    public void ALeaseLapsesOnTheCachesOwnClockAndAHitStopsWithIt()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var near = new NearCache(100, clock);
        near.ExtendLease(near.LeaseTimestamp(), TimeSpan.FromSeconds(6), missedNotices: false);
        var (key, _) = Add(near, "leased-token", "leased-user");
        Assert.True(near.TryGet(key, clock.GetUtcNow(), out _));

        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.True(near.IsLeaseValid);
        Assert.True(near.TryGet(key, clock.GetUtcNow(), out _));

        // Not renewed within the lease: the process may have missed a sign-out, so nothing is served.
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.False(near.IsLeaseValid);
        Assert.False(near.TryGet(key, clock.GetUtcNow(), out _));

        // Renewed (counted from when it asked), it serves again what no notice removed.
        near.ExtendLease(near.LeaseTimestamp(), TimeSpan.FromSeconds(6), missedNotices: false);
        Assert.True(near.TryGet(key, clock.GetUtcNow(), out _));
    }

    private static (UInt128 Key, string Hash) Add(NearCache near, string token, string userId, long? epoch = null)
    {
        var canonical = $"authjs.session-token={token}\n";
        var json = $$"""{"user":{"name":"{{userId}}"},"epoch":{{epoch ?? near.Epoch}},"expires":"2030-01-01T00:00:00.000Z"}""";
        var result = SessionLookupResult.Found(AuthJsSession.Parse(Encoding.UTF8.GetBytes(json)), userId, null, Until);
        var key = near.KeyOf(canonical);
        near.Add(key, SessionKeys.HashOf(canonical), new CachedLookup(result, Until), epoch ?? near.Epoch, DateTimeOffset.UtcNow);
        return (key, SessionKeys.HashOf(canonical));
    }

    private static bool Has(NearCache near, UInt128 key) => near.TryGet(key, DateTimeOffset.UtcNow, out _);

    [Fact]
    public void ANoticeRemovesTheUsersEntriesAndTheNamedSessionsOnly()
    {
        using var near = Leased();
        var a1 = Add(near, "a1", "user-a");
        var a2 = Add(near, "a2", "user-a");
        var b1 = Add(near, "b1", "user-b");
        var c1 = Add(near, "c1", "user-c");

        near.Invalidate(new InvalidationNotice(SessionKeys.UserKeyOf("user-a"), [c1.Hash]));

        Assert.False(Has(near, a1.Key));
        Assert.False(Has(near, a2.Key));
        Assert.False(Has(near, c1.Key));
        Assert.True(Has(near, b1.Key));
        Assert.Equal(1, near.Count);

        // Cached again after the sign-out (a new sign-in): indexed again, and the next notice finds it.
        var again = Add(near, "a3", "user-a");
        Assert.True(Has(near, again.Key));
        near.Invalidate(new InvalidationNotice(SessionKeys.UserKeyOf("user-a"), []));
        Assert.False(Has(near, again.Key));
        Assert.True(Has(near, b1.Key));
    }

    [Fact]
    public void NoEntryAddedBeforeANoticeSurvivesItWhileAddsRace()
    {
        using var near = Leased(1_000_000);
        const string User = "user-racing";
        var keys = new System.Collections.Concurrent.ConcurrentDictionary<UInt128, byte>();

        // Adds hold it shared, so that taking it exclusively waits for every add begun, its own
        // epoch check included; notices run alongside the adds, outside it.
        using var inFlight = new ReaderWriterLockSlim();
        var stop = 0;
        var threads = Enumerable.Range(0, 3).Select(thread => new Thread(() =>
        {
            for (var i = 0; Volatile.Read(ref stop) == 0; i++)
            {
                inFlight.EnterReadLock();
                try
                {
                    // As a lookup does: the epoch read before the grain call, the answer added after it.
                    var epoch = near.Epoch;
                    keys.TryAdd(Add(near, $"t{thread}-{i % 100}", User, epoch).Key, 0);
                }
                finally
                {
                    inFlight.ExitReadLock();
                }
            }
        })).ToList();
        threads.ForEach(static t => t.Start());

        for (var round = 0; round < 500; round++)
        {
            near.Invalidate(new InvalidationNotice(SessionKeys.UserKeyOf(User), []));
            var noticeEpoch = near.Epoch;
            inFlight.EnterWriteLock();
            try
            {
                foreach (var key in keys.Keys)
                {
                    if (near.TryGet(key, DateTimeOffset.UtcNow, out var result))
                    {
                        using var json = result.Session!.ToJsonDocument();
                        var addedAt = json.RootElement.GetProperty("epoch").GetInt64();
                        Assert.True(addedAt >= noticeEpoch, $"an entry added at epoch {addedAt} survived the notice at {noticeEpoch}");
                    }
                }
            }
            finally
            {
                inFlight.ExitWriteLock();
            }
        }

        Volatile.Write(ref stop, 1);
        threads.ForEach(static t => t.Join());
    }
}

/// <summary>The allocation-free hit path finds exactly the key the general path would build, or defers to it.</summary>
[Trait("Category", "Unit")]
public sealed class SessionCookieFastPathTests
{
    private static readonly SessionKeys Keys = new(["custom.session"], 16 * 1024);

    [Theory]
    [InlineData("authjs.session-token=abc", true)]
    [InlineData("  theme=dark ;  authjs.session-token = abc.def-ghi_jkl ; other=1", true)]
    [InlineData("a=1; __Secure-authjs.session-token=tok; b", true)]
    [InlineData("next-auth.session-token=v4token", true)]
    [InlineData("custom.session=mine; x=y", true)]
    [InlineData("authjs.session-token=\ttab\t", true)]
    [InlineData("authjs.session-token=a%41b", false)]
    [InlineData("authjs.session-token.0=part1; authjs.session-token.1=part2", false)]
    [InlineData("authjs.session-token=one; next-auth.session-token=two", false)]
    [InlineData("authjs.session-token=first; authjs.session-token=second", false)]
    [InlineData("authjs.session-token=; authjs.session-token=second", false)]
    [InlineData("authjs.session-tokenX=odd", false)]
    [InlineData("novalue; authjs.session-token=abc", true)]
    [InlineData("theme=dark", false)]
    [InlineData("", false)]
    public void TheLocatedCookieHashesToTheGeneralPathsKey(string header, bool located)
    {
        using var near = new NearCache(10, TimeProvider.System);

        var found = Keys.TryLocateSingleSessionCookie(header, out var name, out var start, out var length);

        Assert.Equal(located, found);
        if (found)
        {
            var general = Keys.Select(SessionRequest.FromCookieHeader(header));
            Assert.Equal(SessionKeyKind.Key, general.Kind);
            Assert.Equal(general.Canonical, $"{name}={header.Substring(start, length)}\n");
            Assert.Equal(near.KeyOf(general.Canonical), near.KeyOf(name!, header.AsSpan(start, length)));
        }
    }
}
