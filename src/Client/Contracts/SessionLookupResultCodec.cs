using System.Runtime.InteropServices;
using Orleans.Serialization.Cloning;
using SessionCache.AuthJs;

namespace SessionCache.Contracts;

/// <summary>
/// How a <see cref="SessionLookupResult"/> crosses process boundaries. The type lives in the
/// Orleans-free session library, so it travels as this surrogate. The session's user and expiry
/// travel parsed, so that the receiver does not parse the session JSON again.
/// </summary>
[GenerateSerializer]
internal struct SessionLookupResultSurrogate
{
    [Id(0)] public int Status;
    [Id(1)] public byte[]? Json;
    [Id(2)] public bool HasUser;
    [Id(3)] public string? Name;
    [Id(4)] public string? Email;
    [Id(5)] public string? Image;
    [Id(6)] public DateTimeOffset? Expires;
    [Id(7)] public string? UserId;
    [Id(8)] public DateTimeOffset? IssuedAt;
    [Id(9)] public DateTimeOffset? ValidUntil;
    [Id(10)] public bool IsRetryable;
    [Id(11)] public string? Reason;
    [Id(12)] public DateTimeOffset? SignedInAt;
    [Id(13)] public byte[]? Token;
    [Id(14)] public string? TokenCookieName;
    [Id(15)] public byte[]? TokenReissueClaims;
}

[RegisterConverter]
internal sealed class SessionLookupResultConverter : IConverter<SessionLookupResult, SessionLookupResultSurrogate>
{
    public SessionLookupResult ConvertFromSurrogate(in SessionLookupResultSurrogate surrogate)
    {
        AuthJsSession? session = null;
        if (surrogate.Json is { } json)
        {
            var user = surrogate.HasUser ? new AuthJsUser(surrogate.Name, surrogate.Email, surrogate.Image) : null;
            session = new AuthJsSession(json, user, surrogate.Expires);
        }

        return SessionLookupResult.FromParts((SessionLookupStatus)surrogate.Status, session, surrogate.UserId, surrogate.IssuedAt, surrogate.ValidUntil, surrogate.IsRetryable, surrogate.Reason, surrogate.SignedInAt,
            surrogate.Token is { } token ? new AuthJsToken(token, surrogate.TokenCookieName, surrogate.TokenReissueClaims) : null);
    }

    public SessionLookupResultSurrogate ConvertToSurrogate(in SessionLookupResult value)
    {
        byte[]? json = null;
        if (value.Session is { } session)
        {
            json = MemoryMarshal.TryGetArray(session.Json, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
                ? segment.Array
                : session.Json.ToArray();
        }

        return new SessionLookupResultSurrogate
        {
            Status = (int)value.Status,
            Json = json,
            HasUser = value.Session?.User is not null,
            Name = value.Session?.User?.Name,
            Email = value.Session?.User?.Email,
            Image = value.Session?.User?.Image,
            Expires = value.Session?.Expires,
            UserId = value.UserId,
            IssuedAt = value.IssuedAt,
            ValidUntil = value.ValidUntil,
            IsRetryable = value.IsRetryable,
            Reason = value.Reason,
            SignedInAt = value.SignedInAt,
            Token = value.Token?.Bytes,
            TokenCookieName = value.Token?.CookieName,
            TokenReissueClaims = value.Token?.ReissueClaims,
        };
    }
}

/// <summary>Results are immutable: a call inside one process hands the same instance over, uncopied.</summary>
[RegisterCopier]
internal sealed class SessionLookupResultCopier : IDeepCopier<SessionLookupResult>
{
    public SessionLookupResult? DeepCopy(SessionLookupResult? input, CopyContext context) => input;
}
