using System.Text.Json;

namespace SessionCache.AuthJs;

/// <summary>
/// The decoded payload of an Auth.js JWT session: every claim, as the token holds it, before the
/// app's <c>jwt</c> callback (Auth.js' <c>getToken</c> does not run it either). Resolved and cached
/// with the session, so reading it costs no second decode.
/// </summary>
public sealed class AuthJsToken
{
    private readonly byte[] _json;

    internal AuthJsToken(byte[] json, string? cookieName, byte[]? reissueClaims = null)
    {
        _json = json;
        CookieName = cookieName;
        ReissueClaims = reissueClaims;
    }

    /// <summary>The payload as UTF-8 JSON: an object.</summary>
    public ReadOnlyMemory<byte> Json => _json;

    /// <summary>The cookie the token came in (chunks joined), or <see langword="null"/> for <c>Authorization: Bearer</c>.</summary>
    internal string? CookieName { get; }

    /// <summary>
    /// What the app's <c>jwt</c> callback returned, where it changed the token: the claims a
    /// re-issued cookie carries, as Auth.js re-encodes the callback's token. <see langword="null"/>: the payload.
    /// </summary>
    internal byte[]? ReissueClaims { get; }

    /// <summary>Parses the payload into a document, to read claims.</summary>
    /// <returns>A document the caller disposes.</returns>
    public JsonDocument ToJsonDocument() => JsonDocument.Parse(_json);

    /// <summary>The bytes, for carrying the token between processes.</summary>
    internal byte[] Bytes => _json;
}
