using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs.Internals;
using SessionCache.Contracts;

namespace SessionCache.Client.Internals;

/// <summary>
/// Keeps this process subscribed to one silo's invalidation relay and the near cache's lease
/// current. Until the first subscription, and whenever renewals fail for longer than the lease,
/// lookups bypass the near cache and go to the grains, which are always right.
/// </summary>
/// <remarks>
/// The relay is picked at random among the active silos, other than the silo answering (a silo's
/// own one, for a silo's near cache) when there are others: a silo cut off from the rest then
/// cannot renew, and stops serving from its near cache within a lease. A process stays with its
/// relay until a renewal fails, then picks another.
/// </remarks>
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

        IInvalidationRelayGrain? relay = null;
        string? relayKey = null;
        string? failedKey = null;
        ISessionCacheObserver? reference = null;
        Guid? incarnation = null;
        var failing = false;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var delay = near.RenewEvery;
                var askedAt = nearCache.LeaseTimestamp();
                try
                {
                    // Made here, not before the loop: a client knows neither grain types nor
                    // observers until it has connected. The runtime holds observers weakly; the
                    // field keeps this one alive.
                    reference ??= grains.CreateObjectReference<ISessionCacheObserver>(_observer);
                    if (relay is null)
                    {
                        var directory = await grains.GetGrain<IRelayDirectoryGrain>(0).GetRelaysAsync().WaitAsync(near.RenewEvery, stoppingToken);
                        relayKey = Choose(directory, failedKey);
                        relay = grains.GetGrain<IInvalidationRelayGrain>(relayKey);
                        askedAt = nearCache.LeaseTimestamp();
                    }

                    // Bounded: a renewal sent to a silo that died with it is never answered, and
                    // waiting Orleans' 30 s response timeout would let the lease lapse for nothing.
                    var ack = await relay.SubscribeAsync(reference).WaitAsync(near.RenewEvery, stoppingToken);
                    var missed = !ack.WasSubscribed || !nearCache.IsLeaseValid || (incarnation is { } previous && previous != ack.Incarnation);
                    nearCache.ExtendLease(askedAt, ack.Lease, missed);

                    // The relay's lease may be shorter than ours: renew often enough to keep it.
                    delay = ack.Lease / 3 < delay ? ack.Lease / 3 : delay;
                    if (missed)
                    {
                        LogCacheCleared(logger, ack.Incarnation, ack.WasSubscribed);
                    }

                    incarnation = ack.Incarnation;
                    failedKey = null;
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

                    // A relay that refused keeps this process out on purpose, for a lease: asking
                    // another would undo that. Any other failure may be its silo's death: move.
                    if (exception is not SubscriptionRefusedException && relay is not null)
                    {
                        failedKey = relayKey;
                        relay = null;
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
            if (relay is not null && reference is not null)
            {
                try
                {
                    await relay.UnsubscribeAsync(reference).WaitAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
                    grains.DeleteObjectReference<ISessionCacheObserver>(reference);
                }
                catch (Exception exception)
                {
                    // Shutting down: the relay drops us when it next fails to reach us anyway.
                    LogUnsubscribeFailed(logger, exception.GetType().Name);
                }
            }
        }
    }

    /// <summary>A relay other than the answering silo's and the one that just failed, where there is one.</summary>
    internal static string Choose(RelayDirectory directory, string? failed)
    {
        var candidates = directory.Active.Where(key => !string.Equals(key, directory.Answering, StringComparison.Ordinal)).ToList();
        if (candidates.Count == 0)
        {
            candidates = [.. directory.Active];
        }

        if (candidates.Count > 1 && failed is not null)
        {
            candidates.Remove(failed);
        }

        if (candidates.Count == 0)
        {
            throw new InvalidOperationException("No silo is active to subscribe to sign-out notices through.");
        }

        return candidates[Random.Shared.Next(candidates.Count)];
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Cannot subscribe to session invalidations ({Exception}); the near cache is bypassed until this succeeds")]
    private static partial void LogSubscriptionFailed(ILogger logger, string exception);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Subscribed to session invalidations again; the near cache is back in use")]
    private static partial void LogSubscriptionRestored(ILogger logger);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Subscribed to the invalidation relay of silo process {Incarnation} (it knew us: {WasSubscribed}); near cache emptied, notices may have been missed")]
    private static partial void LogCacheCleared(ILogger logger, Guid incarnation, bool wasSubscribed);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Debug, Message = "Could not unsubscribe from session invalidations on shutdown ({Exception})")]
    private static partial void LogUnsubscribeFailed(ILogger logger, string exception);

    private sealed class NearCacheObserver(NearCache cache) : ISessionCacheObserver
    {
        public Task OnInvalidatedAsync(InvalidationNotice[] notices)
        {
            foreach (var notice in notices)
            {
                cache.Invalidate(notice);
            }

            return Task.CompletedTask;
        }
    }
}
