using SessionCache.AuthJs;

namespace SessionCache.Contracts;

/// <summary>A request's session cookies (decoded, header order) or, without any, its bearer authorization.</summary>
[GenerateSerializer, Immutable]
internal sealed class SessionCredential
{
    public SessionCredential(KeyValuePair<string, string>[] cookies, string? authorization)
    {
        Cookies = cookies;
        Authorization = authorization;
    }

    [Id(0)]
    public KeyValuePair<string, string>[] Cookies { get; }

    [Id(1)]
    public string? Authorization { get; }

    /// <summary>The request a resolver reads: cookies if there are any, else the authorization.</summary>
    public SessionRequest ToRequest() =>
        Cookies.Length > 0 ? SessionRequest.FromCookies(Cookies) : SessionRequest.FromCookieHeader(null, Authorization);
}

/// <summary>A lookup's result and how long a near cache may keep it.</summary>
[GenerateSerializer, Immutable]
internal sealed class CachedLookup
{
    public CachedLookup(SessionLookupResult result, DateTimeOffset cacheUntil)
    {
        Result = result;
        CacheUntil = cacheUntil;
    }

    [Id(0)]
    public SessionLookupResult Result { get; }

    /// <summary>Until when the answer may be served without asking the grain; in the past for upstream errors.</summary>
    [Id(1)]
    public DateTimeOffset CacheUntil { get; }
}

/// <summary>
/// What to forget: every session of a user, and/or the named session keys. Users are named by
/// their grain key (<see cref="SessionCache.AuthJs.Internals.SessionKeys.UserKeyOf"/>), never by
/// id: every subscriber receives every notice.
/// </summary>
[GenerateSerializer, Immutable]
internal sealed class InvalidationNotice
{
    public InvalidationNotice(string? userKey, string[] sessionKeys)
    {
        UserKey = userKey;
        SessionKeys = sessionKeys;
    }

    [Id(0)]
    public string? UserKey { get; }

    [Id(1)]
    public string[] SessionKeys { get; }
}

/// <summary>A relay's answer to a subscription.</summary>
/// <param name="Incarnation">The relay's silo process: another one means another relay, whose notices before now were not for us.</param>
/// <param name="WasSubscribed">
/// Whether the relay already had this subscriber. <see langword="false"/> when it is new there, or
/// after the relay dropped it (it could not be told of a notice): whatever it caches may be stale.
/// </param>
/// <param name="Lease">The lease the relay granted, counted from before the subscriber asked: the silo's, not the subscriber's, configuration.</param>
[GenerateSerializer, Immutable]
internal sealed record SubscriptionAck([property: Id(0)] Guid Incarnation, [property: Id(1)] bool WasSubscribed, [property: Id(2)] TimeSpan Lease);

/// <summary>A relay refused a subscription: the process holds too many, or is kept out for not acknowledging.</summary>
[GenerateSerializer]
internal sealed class SubscriptionRefusedException : Exception
{
    public SubscriptionRefusedException()
    {
    }

    public SubscriptionRefusedException(string message)
        : base(message)
    {
    }

    public SubscriptionRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The relays a process may subscribe to.</summary>
/// <param name="Answering">The relay of the silo that answered: a silo's own near cache subscribes elsewhere, so that a silo cut off from the others loses its lease.</param>
/// <param name="Active">The relays of every silo active in the answering silo's view.</param>
[GenerateSerializer, Immutable]
internal sealed record RelayDirectory([property: Id(0)] string Answering, [property: Id(1)] string[] Active);

/// <summary>
/// When a session's user signed in, as a user's grain judges it against sign-outs.
/// </summary>
/// <param name="Effective">The sign-in time compared with the user's sign-out: the stable one, else the token's <c>iat</c>.</param>
/// <param name="Stable">The sign-in time that survives Auth.js' re-encodes (<c>auth_time</c>), in Unix seconds; it names the sign-in.</param>
[GenerateSerializer, Immutable]
internal sealed record SessionSignIn([property: Id(0)] DateTimeOffset? Effective, [property: Id(1)] long? Stable)
{
    public static SessionSignIn Of(SessionLookupResult result) =>
        new(result.SignedInAt ?? result.IssuedAt, result.SignedInAt?.ToUnixTimeSeconds());
}

/// <summary>A user's sign-outs: everywhere at <paramref name="RevokedAt"/>, and single sign-ins by their time.</summary>
[GenerateSerializer, Immutable]
internal sealed record UserSignOuts([property: Id(0)] DateTimeOffset? RevokedAt, [property: Id(1)] long[] RevokedSignIns)
{
    /// <summary>Whether a sign-in at this time (Unix seconds) has been signed out, at the precision the user's grain compares.</summary>
    public bool Cover(long signedInAt) =>
        (RevokedAt is { } revoked && signedInAt < revoked.ToUnixTimeSeconds()) || Array.IndexOf(RevokedSignIns, signedInAt) >= 0;
}
