using System.Globalization;
using System.Text.Json;

namespace SessionCache.AuthJs;

/// <summary>
/// An Auth.js session: the JSON object the Auth.js <c>GET /session</c> endpoint answers, kept
/// byte for byte so that fields added by an app's <c>session</c> callback survive, with the
/// well-known fields parsed for convenience.
/// </summary>
public sealed class AuthJsSession
{
    private readonly byte[] _json;

    internal AuthJsSession(byte[] json, AuthJsUser? user, DateTimeOffset? expires)
    {
        _json = json;
        User = user;
        Expires = expires;
    }

    /// <summary>The session as UTF-8 JSON, exactly as it is served.</summary>
    public ReadOnlyMemory<byte> Json => _json;

    /// <summary>The <c>user</c> object, or <see langword="null"/> when the session has none.</summary>
    public AuthJsUser? User { get; }

    /// <summary>The session's <c>expires</c>, or <see langword="null"/> when absent or not a date.</summary>
    public DateTimeOffset? Expires { get; }

    /// <summary>Parses the session JSON into a document, for fields an app's callbacks added.</summary>
    /// <returns>A document the caller disposes.</returns>
    public JsonDocument ToJsonDocument() => JsonDocument.Parse(_json);

    /// <inheritdoc/>
    public override string ToString() => System.Text.Encoding.UTF8.GetString(_json);

    /// <summary>
    /// Reads a session from the JSON an Auth.js endpoint answered.
    /// </summary>
    /// <param name="json">UTF-8 JSON; must be an object.</param>
    /// <returns>The session.</returns>
    /// <exception cref="JsonException">The JSON is malformed or not an object.</exception>
    public static AuthJsSession Parse(ReadOnlySpan<byte> json)
    {
        var bytes = json.ToArray();
        using var document = JsonDocument.Parse(bytes);
        return FromDocument(document.RootElement, bytes);
    }

    internal static AuthJsSession FromDocument(JsonElement root, byte[] json)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("An Auth.js session must be a JSON object.");
        }

        AuthJsUser? user = null;
        if (root.TryGetProperty("user"u8, out var userElement) && userElement.ValueKind == JsonValueKind.Object)
        {
            user = new AuthJsUser(
                StringOrNull(userElement, "name"u8),
                StringOrNull(userElement, "email"u8),
                StringOrNull(userElement, "image"u8));
        }

        DateTimeOffset? expires = null;
        if (root.TryGetProperty("expires"u8, out var expiresElement)
            && expiresElement.ValueKind == JsonValueKind.String
            && DateTimeOffset.TryParse(expiresElement.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            expires = parsed;
        }

        return new AuthJsSession(json, user, expires);
    }

    private static string? StringOrNull(JsonElement element, ReadOnlySpan<byte> name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>The <c>user</c> of an Auth.js session, as Auth.js' default session callback exposes it.</summary>
/// <param name="Name">The user's display name.</param>
/// <param name="Email">The user's e-mail address. Never logged.</param>
/// <param name="Image">The URL of the user's picture.</param>
public sealed record AuthJsUser(string? Name, string? Email, string? Image);
