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

/// <summary>What to forget: every session of a user, and/or the named session keys.</summary>
[GenerateSerializer, Immutable]
internal sealed class InvalidationNotice
{
    public InvalidationNotice(string? userId, string[] sessionKeys)
    {
        UserId = userId;
        SessionKeys = sessionKeys;
    }

    [Id(0)]
    public string? UserId { get; }

    [Id(1)]
    public string[] SessionKeys { get; }
}

/// <summary>The hub's answer to a subscription.</summary>
/// <param name="Incarnation">Changes when the hub was lost and re-created: notices may have been missed.</param>
/// <param name="WasSubscribed">
/// Whether the hub already had this subscriber. <see langword="false"/> after the hub dropped it
/// (it could not be told of a notice): whatever it caches may be stale.
/// </param>
[GenerateSerializer, Immutable]
internal sealed record SubscriptionAck([property: Id(0)] Guid Incarnation, [property: Id(1)] bool WasSubscribed);
