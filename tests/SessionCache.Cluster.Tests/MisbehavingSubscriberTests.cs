using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using SessionCache.AuthJs;
using SessionCache.Contracts;

namespace SessionCache.Cluster.Tests;

/// <summary>A cluster with a short lease, so that waiting one out stays quick.</summary>
public sealed class ShortLeaseCluster : SessionCluster
{
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(3);

    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Local",
        ["AUTH_SECRET"] = AuthJsServer.Secret0,
        ["AUTH_SECRET_1"] = AuthJsServer.Secret1,
        ["AUTH_SECRET_2"] = AuthJsServer.Secret2,
        ["SessionCache:NearCache:Lease"] = Lease.ToString(),
        ["SessionCache:NearCache:RenewEvery"] = TimeSpan.FromSeconds(1).ToString(),
    };
}

/// <summary>
/// Whoever reaches a relay cannot stretch the sign-out path: it grants its own lease, bounds the
/// subscriptions of a process, and a subscriber that never acknowledges costs one lease once.
/// </summary>
public sealed class MisbehavingSubscriberTests(ShortLeaseCluster cluster) : IClassFixture<ShortLeaseCluster>
{
    private IGrainFactory Grains => cluster.ClientServices.GetRequiredService<IGrainFactory>();

    // One test, in this order: a silent subscriber gets this client process kept out of the relay
    // for a lease, which the other two parts must not run into.
    [Fact]
    public async Task No_subscriber_can_stretch_the_sign_out_path_nor_learn_user_ids()
    {
        var directory = await Grains.GetGrain<IRelayDirectoryGrain>(0).GetRelaysAsync();
        Assert.Equal(3, directory.Active.Length);
        var hub = Grains.GetGrain<IInvalidationRelayGrain>(directory.Active[0]);

        // 1. Notices name users by their grain key, never by id.
        var listener = new AcknowledgingObserver();
        var listening = Grains.CreateObjectReference<ISessionCacheObserver>(listener);
        await hub.SubscribeAsync(listening);
        await cluster.SiloCaches[2].InvalidateUserAsync("user-notice@example.test");
        // Delivered to subscribers once, after every silo's grains have recorded it.
        var notices = listener.Received.Where(static n => n.UserKey is not null).ToList();
        Assert.NotEmpty(notices);
        Assert.All(notices, static n => Assert.Equal(SessionCache.AuthJs.Internals.SessionKeys.UserKeyOf("user-notice@example.test"), n.UserKey));
        Assert.DoesNotContain(listener.Received, static n => n.SessionKeys.Any(static k => k.Contains("user-notice", StringComparison.Ordinal)));
        await hub.UnsubscribeAsync(listening);

        // 2. One process holds a few subscriptions at most in a relay (this client's near cache
        // holds one, in this relay or another).
        var accepted = new List<ISessionCacheObserver>();
        var refused = 0;
        for (var i = 0; i < 10; i++)
        {
            var reference = Grains.CreateObjectReference<ISessionCacheObserver>(new AcknowledgingObserver());
            try
            {
                await hub.SubscribeAsync(reference);
                accepted.Add(reference);
            }
            catch (SubscriptionRefusedException)
            {
                refused++;
            }
        }

        Assert.InRange(accepted.Count, MaxSubscribersPerProcess - 1, MaxSubscribersPerProcess);
        Assert.Equal(10 - accepted.Count, refused);
        foreach (var reference in accepted)
        {
            await hub.UnsubscribeAsync(reference);
        }

        // 3. A subscriber that never acknowledges costs one lease, once.
        var silent = new SilentObserver();
        var silentReference = Grains.CreateObjectReference<ISessionCacheObserver>(silent);
        var ack = await hub.SubscribeAsync(silentReference);
        Assert.Equal(ShortLeaseCluster.Lease, ack.Lease);

        var cookie = AuthJsServer.CookieHeader(await cluster.AuthJs.SignInAsync("/jwt/auth", "misbehaving-1"));
        Assert.NotNull(await cluster.ClientCache.GetServerSessionAsync(cookie));

        var first = Stopwatch.StartNew();
        await cluster.SiloCaches[0].InvalidateUserAsync("user-misbehaving-1");
        first.Stop();
        Assert.True(silent.Notices > 0, "the silent subscriber was never told");
        Assert.True(first.Elapsed < ShortLeaseCluster.Lease + TimeSpan.FromSeconds(2), $"the first sign-out took {first.Elapsed}, more than one lease ({ShortLeaseCluster.Lease})");
        Assert.Null(await cluster.ClientCache.GetServerSessionAsync(cookie));

        // Dropped, and kept out for a lease: it cannot come back at once to stall the next one.
        await Assert.ThrowsAsync<SubscriptionRefusedException>(() => hub.SubscribeAsync(Grains.CreateObjectReference<ISessionCacheObserver>(new SilentObserver())));
        var second = Stopwatch.StartNew();
        await cluster.SiloCaches[1].InvalidateUserAsync("user-misbehaving-2");
        second.Stop();
        Assert.True(second.Elapsed < ShortLeaseCluster.Lease, $"the next sign-out took {second.Elapsed}: it waited for the dropped subscriber again");
        Grains.DeleteObjectReference<ISessionCacheObserver>(silentReference);
    }

    private const int MaxSubscribersPerProcess = 4;

    /// <summary>Takes notices and never answers.</summary>
    private sealed class SilentObserver : ISessionCacheObserver
    {
        private int _notices;

        public int Notices => Volatile.Read(ref _notices);

        public Task OnInvalidatedAsync(InvalidationNotice[] notices)
        {
            Interlocked.Add(ref _notices, notices.Length);
            return new TaskCompletionSource().Task;
        }
    }

    private sealed class AcknowledgingObserver : ISessionCacheObserver
    {
        public System.Collections.Concurrent.ConcurrentQueue<InvalidationNotice> Received { get; } = new();

        public Task OnInvalidatedAsync(InvalidationNotice[] notices)
        {
            foreach (var notice in notices)
            {
                Received.Enqueue(notice);
            }

            return Task.CompletedTask;
        }
    }
}
