using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs.Internals;
using SessionCache.Contracts;

namespace SessionCache.Client.Internals;

/// <summary>
/// Keeps this process subscribed to the invalidation hub and the near cache's lease current. Until
/// the first subscription, and whenever renewals fail for longer than the lease, lookups bypass the
/// near cache and go to the grains, which are always right.
/// </summary>
internal sealed partial class InvalidationSubscriber(
    IGrainFactory grains,
    NearCache nearCache,
    IOptions<SessionCacheClientOptions> options,
    ILogger<InvalidationSubscriber> logger) : BackgroundService
{
    private readonly NearCacheObserver _observer = new(nearCache);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var near = options.Value.NearCache;
        if (!near.Enabled && !options.Value.SubscribeWithoutNearCache)
        {
            return;
        }

        IInvalidationHubGrain? hub = null;
        ISessionCacheObserver? reference = null;
        Guid? incarnation = null;
        var failing = false;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var delay = near.RenewEvery;
                var askedAt = Environment.TickCount64;
                try
                {
                    // Made here, not before the loop: a client knows neither grain types nor
                    // observers until it has connected. The runtime holds observers weakly; the
                    // field keeps this one alive.
                    hub ??= grains.GetGrain<IInvalidationHubGrain>(0);
                    reference ??= grains.CreateObjectReference<ISessionCacheObserver>(_observer);
                    // Bounded: a renewal sent to a silo that died with it is never answered, and
                    // waiting Orleans' 30 s response timeout would let the lease lapse for nothing.
                    var ack = await hub.SubscribeAsync(reference).WaitAsync(near.RenewEvery, stoppingToken);
                    var missed = !ack.WasSubscribed || !nearCache.IsLeaseValid || (incarnation is { } previous && previous != ack.Incarnation);
                    nearCache.ExtendLease(askedAt, ack.Lease, missed);

                    // The hub's lease may be shorter than ours: renew often enough to keep it.
                    delay = ack.Lease / 3 < delay ? ack.Lease / 3 : delay;
                    if (missed)
                    {
                        LogCacheCleared(logger, ack.Incarnation, ack.WasSubscribed);
                    }

                    incarnation = ack.Incarnation;
                    if (failing)
                    {
                        LogSubscriptionRestored(logger);
                        failing = false;
                    }
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    if (!failing)
                    {
                        // By type only, as every other line: Orleans' messages name grains, Redis' quote its configuration.
                        LogSubscriptionFailed(logger, ExceptionNames.Chain(exception));
                        failing = true;
                    }

                    delay = TimeSpan.FromMilliseconds(Math.Min(1000, near.RenewEvery.TotalMilliseconds));
                }

                await Task.Delay(delay, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            nearCache.EndLease();
            nearCache.Clear();
            if (hub is not null && reference is not null)
            {
                try
                {
                    await hub.UnsubscribeAsync(reference).WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
                    grains.DeleteObjectReference<ISessionCacheObserver>(reference);
                }
                catch (Exception exception)
                {
                    // Shutting down: the hub drops us when our lease runs out anyway.
                    LogUnsubscribeFailed(logger, exception.GetType().Name);
                }
            }
        }
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Cannot subscribe to session invalidations ({Exception}); the near cache is bypassed until this succeeds")]
    private static partial void LogSubscriptionFailed(ILogger logger, string exception);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Subscribed to session invalidations again; the near cache is back in use")]
    private static partial void LogSubscriptionRestored(ILogger logger);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Subscribed to invalidation hub incarnation {Incarnation} (it knew us: {WasSubscribed}); near cache emptied, notices may have been missed")]
    private static partial void LogCacheCleared(ILogger logger, Guid incarnation, bool wasSubscribed);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Debug, Message = "Could not unsubscribe from session invalidations on shutdown ({Exception})")]
    private static partial void LogUnsubscribeFailed(ILogger logger, string exception);

    private sealed class NearCacheObserver(NearCache cache) : ISessionCacheObserver
    {
        public Task OnInvalidatedAsync(InvalidationNotice notice)
        {
            cache.Invalidate(notice);
            return Task.CompletedTask;
        }
    }
}
