using System.Text.Json;
using System.Text.Json.Nodes;

namespace SessionCache.AuthJs;

/// <summary>
/// What <see cref="SessionCacheOptions.ShapeSession"/> gets: the resolved token or user, and Auth.js'
/// default session to change or replace. The elements are valid during the call only (<c>Clone()</c>
/// one to keep it).
/// </summary>
public sealed class SessionShapingContext
{
    internal SessionShapingContext(SessionStrategy strategy, JsonElement token, JsonElement user, JsonObject session)
    {
        Strategy = strategy;
        Token = token;
        User = user;
        Session = session;
    }

    /// <summary>Which local strategy resolved the session.</summary>
    public SessionStrategy Strategy { get; }

    /// <summary>The decoded JWT payload (JWT strategy); <see cref="JsonValueKind.Undefined"/> for database sessions.</summary>
    public JsonElement Token { get; }

    /// <summary>The adapter's user row, every column (database strategy); <see cref="JsonValueKind.Undefined"/> for JWT sessions.</summary>
    public JsonElement User { get; }

    /// <summary>Auth.js' default session, <c>{ user: { name, email, image }, expires }</c>, to change and return, or to replace.</summary>
    public JsonObject Session { get; }
}
