using Orleans.Concurrency;

namespace SessionCache.Contracts;

/// <summary>
/// One session, keyed by the SHA-256 of its credential (<c>SessionKey.Hash</c>), never by the token.
/// Resolves once, single-flight, caches the answer until it may no longer be served, then
/// deactivates itself.
/// </summary>
internal interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>The session for this credential, resolved on the first call and cached.</summary>
    /// <param name="credential">The request's session cookies; the key must be their hash.</param>
    [ResponseTimeout(Timeouts.LookupAttempt)]
    Task<CachedLookup> LookupAsync(SessionCredential credential);

    /// <summary>
    /// Signs this session out: learns its user (from the cached answer, or by resolving it when
    /// <paramref name="resolve"/> is set) and records the revocation with the user's grain; a
    /// credential that is no session here only has its copies dropped from every near cache.
    /// </summary>
    /// <returns>The user the session belonged to, or <see langword="null"/> when the credential is no session of a user here.</returns>
    [ResponseTimeout(Timeouts.SignOut)]
    Task<string?> RevokeAsync(SessionCredential credential, bool resolve);

    /// <summary>
    /// Drops the cached answer and deactivates. Interleaves, because the user's grain calls it while
    /// this grain may be waiting on the user's grain.
    /// </summary>
    [AlwaysInterleave]
    Task ForgetAsync();
}

/// <summary>
/// One user, keyed by <see cref="SessionCache.AuthJs.Internals.SessionKeys.UserKeyOf"/> of the
/// user id: the user's sessions and the user's revocations, in grain storage.
/// </summary>
internal interface IUserGrain : IGrainWithStringKey
{
    /// <summary>
    /// Registers a resolved session and answers whether it may be served: not if the session or its
    /// sign-in was revoked, nor if its user signed in before the user's revocation, nor if it was already known to
    /// exist then: <paramref name="existedAt"/> is when the resolution that found it began, so a
    /// resolution that overlapped a sign-out is refused even where the token carries no issue time
    /// (proxy and database modes).
    /// </summary>
    Task<bool> AdmitAsync(string sessionKey, SessionSignIn signIn, DateTimeOffset existedAt, DateTimeOffset validUntil);

    /// <summary>The user's sign-outs, for deciding whether a sign-in is still valid without a session grain.</summary>
    Task<UserSignOuts> GetSignOutsAsync();

    /// <summary>Signs the user out: records the revocation, forgets every session grain, tells every process.</summary>
    /// <param name="userId">The user id this grain's key was made from (checked): database mode ends the user's rows by it.</param>
    [ResponseTimeout(Timeouts.SignOut)]
    Task RevokeAsync(string userId);

    /// <summary>
    /// Signs one session of the user out, and with it every copy of the same sign-in
    /// (<paramref name="signedInAt"/>, Unix seconds of its stable sign-in time, where known).
    /// </summary>
    [ResponseTimeout(Timeouts.SignOut)]
    Task RevokeSessionAsync(string sessionKey, DateTimeOffset validUntil, long? signedInAt);
}

/// <summary>
/// One silo's share of the sign-out fan-out, keyed by that silo's address
/// (<c>SiloAddress.ToParsableString()</c>) and only ever activated there. A process subscribes to
/// one relay; a sign-out is delivered by every live silo's relay to its own subscribers, so no
/// single grain is on the path, and a relay lost with its silo only costs what its subscribers'
/// leases had left.
/// </summary>
internal interface IInvalidationRelayGrain : IGrainWithStringKey
{
    /// <summary>
    /// Adds or renews a subscriber; the lease the relay grants (its own <c>NearCache:Lease</c>) runs
    /// from this call. The answer tells the subscriber whether it may have missed notices (it is new
    /// to this relay, or was dropped by it).
    /// </summary>
    /// <exception cref="SubscriptionRefusedException">The process holds too many subscriptions, or is kept out for not acknowledging.</exception>
    Task<SubscriptionAck> SubscribeAsync(ISessionCacheObserver observer);

    /// <summary>Removes a subscriber, on shutdown.</summary>
    Task UnsubscribeAsync(ISessionCacheObserver observer);

    /// <summary>
    /// Records the notices with this silo's session grains, before any near cache hears them: a
    /// near cache that has heard then asks only silos that have.
    /// </summary>
    Task RecordAsync(InvalidationNotice[] notices);

    /// <summary>
    /// Tells every subscriber of this relay. Completes once each has acknowledged or been dropped,
    /// with how much longer the lease of a dropped one may still let it serve.
    /// </summary>
    [ResponseTimeout(Timeouts.SignOut)]
    Task<TimeSpan> DeliverAsync(InvalidationNotice[] notices);

    /// <summary>
    /// How long ago this silo saw each of <paramref name="silos"/> leave the cluster:
    /// <see cref="TimeSpan.MaxValue"/> when more than a lease ago, zero when it has not seen it go.
    /// A silo that just started asks, rather than count every dead silo it finds as just died.
    /// </summary>
    Task<TimeSpan[]> GetDeparturesAsync(string[] silos);
}

/// <summary>Which relays a process may subscribe to: one per active silo, answered by the nearest silo.</summary>
internal interface IRelayDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>The relays of the silos active now, and the one of the silo answering.</summary>
    Task<RelayDirectory> GetRelaysAsync();
}

/// <summary>A process' near cache, as its relay sees it.</summary>
internal interface ISessionCacheObserver : IGrainObserver
{
    /// <summary>Forgets the sessions the notices name; completes once they are gone.</summary>
    Task OnInvalidatedAsync(InvalidationNotice[] notices);
}

/// <summary>Response timeouts of calls that can outlast Orleans' default of 30 seconds.</summary>
internal static class Timeouts
{
    /// <summary>
    /// A sign-out that cannot reach a process waits for that process' lease
    /// (<c>NearCache:Lease</c>, at most 10 minutes) plus the attempt to tell it; callers bound their
    /// own wait with a cancellation token.
    /// </summary>
    public const string SignOut = "00:10:30";

    /// <summary>
    /// One attempt at a lookup. A request that reached a silo just before it died gets no answer;
    /// rather than wait Orleans' 30 s, the caller gives up on it after this and asks again, by then
    /// (or soon) of a live activation. A resolution that takes longer (a slow upstream) is not
    /// repeated: the second attempt queues behind it in the same grain.
    /// </summary>
    public const string LookupAttempt = "00:00:04";
}
