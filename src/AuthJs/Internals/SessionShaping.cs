using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// The one step that turns a resolved token or user into the session served, in local mode: the
/// app's Auth.js callbacks, a field mapping, or a .NET hook (<see cref="SessionShaping.Create"/>
/// picks the configured one). Runs once per resolution; its answer is cached with the session.
/// </summary>
internal interface ISessionShaper
{
    /// <summary>Shapes a JWT session: <paramref name="token"/> is the decoded payload, <paramref name="expires"/> the default session's expiry.</summary>
    ShapedSession ShapeJwt(byte[] token, string expires, ReadOnlySpan<byte> defaultSession);

    /// <summary>Shapes a database session from the adapter's session and user rows.</summary>
    ShapedSession ShapeDatabase(DatabaseRow session, DatabaseRow user, ReadOnlySpan<byte> defaultSession);
}

/// <summary>A row as JSON, with the names of its columns that are dates (node-postgres hands those over as <c>Date</c>s).</summary>
internal sealed record DatabaseRow(byte[] Json, string[] DateColumns);

/// <summary>
/// A shaped session (UTF-8 JSON, an object), with the token the <c>jwt</c> callback returned where it
/// ran; or why there is no session, which Auth.js answers as <c>null</c>.
/// </summary>
/// <param name="Session">The session to serve.</param>
/// <param name="Token">What the <c>jwt</c> callback returned, where it changed the token: what a re-issued cookie carries.</param>
/// <param name="Failure">Why there is no session.</param>
/// <param name="Transient">The failure is the host's (time ran out), not the app's: answered as an upstream error, never as "no session".</param>
internal readonly record struct ShapedSession(byte[]? Session, byte[]? Token, string? Failure, bool Transient = false)
{
    public static ShapedSession Of(byte[] session, byte[]? token) => new(session, token, null);

    public static ShapedSession Failed(string failure) => new(null, null, failure);

    public static ShapedSession TimedOut(string failure) => new(null, null, failure, Transient: true);
}

/// <summary>The shaping configuration cannot work; the message names the key.</summary>
internal sealed class SessionShapingException(string message) : Exception(message);

/// <summary>Chooses the configured shaping step.</summary>
internal static class SessionShaping
{
    /// <summary>The configured shaper, or <see langword="null"/> for Auth.js' default session.</summary>
    /// <exception cref="SessionShapingException">The callbacks module cannot be loaded.</exception>
    public static ISessionShaper? Create(SessionCacheOptions options, ILoggerFactory loggers)
    {
        if (options.Mode != SessionResolutionMode.Local)
        {
            return null;
        }

        if (options.CallbacksModule is { Length: > 0 } module)
        {
            return JavaScriptCallbacks.Load(module, options.CallbacksTimeLimit, options.CallbacksMemoryLimit, loggers.CreateLogger<JavaScriptCallbacks>());
        }

        if (options.SessionFields.Count > 0)
        {
            return new FieldMapping(options.SessionFields);
        }

        return options.ShapeSession is { } hook ? new CodeHook(hook, options.Strategy, loggers.CreateLogger<CodeHook>()) : null;
    }

    /// <summary>The shaping steps configured, by the key that configures them, for the validator.</summary>
    public static List<string> Configured(SessionCacheOptions options)
    {
        var configured = new List<string>(3);
        if (!string.IsNullOrEmpty(options.CallbacksModule))
        {
            configured.Add("SessionCache:CallbacksModule");
        }

        if (options.SessionFields.Count > 0)
        {
            configured.Add("SessionCache:SessionFields");
        }

        if (options.ShapeSession is not null)
        {
            configured.Add("SessionCacheOptions.ShapeSession (in code)");
        }

        return configured;
    }

    /// <summary>A shaped session as served: a JSON object (a shaper's output is checked, not trusted).</summary>
    public static bool TryParse(byte[] json, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out AuthJsSession? session)
    {
        session = null;
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            session = AuthJsSession.FromDocument(document.RootElement, json);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    internal static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}

/// <summary>
/// <c>SessionCache:SessionFields</c>: session fields copied from token claims (JWT) or user columns
/// (database) into Auth.js' default session, e.g. <c>user.id</c> from <c>sub</c>. A missing source
/// leaves the field out, as <c>JSON.stringify</c> leaves out <c>undefined</c>.
/// </summary>
internal sealed class FieldMapping(IDictionary<string, string> fields) : ISessionShaper
{
    private readonly KeyValuePair<string, string>[] _fields = [.. fields];

    public ShapedSession ShapeJwt(byte[] token, string expires, ReadOnlySpan<byte> defaultSession) => Shape(token, defaultSession);

    public ShapedSession ShapeDatabase(DatabaseRow session, DatabaseRow user, ReadOnlySpan<byte> defaultSession) => Shape(user.Json, defaultSession);

    private ShapedSession Shape(byte[] source, ReadOnlySpan<byte> defaultSession)
    {
        using var document = JsonDocument.Parse(source);
        var session = JsonNode.Parse(defaultSession)!.AsObject();
        foreach (var (target, from) in _fields)
        {
            if (JsonPath.TryGet(document.RootElement, from, out var value))
            {
                Set(session, target, JsonNode.Parse(value.GetRawText()));
            }
        }

        return ShapedSession.Of(JsonSerializer.SerializeToUtf8Bytes(session, SessionShaping.Relaxed), null);
    }

    private static void Set(JsonObject session, string path, JsonNode? value)
    {
        var segments = path.Split('.');
        var parent = session;
        for (var i = 0; i < segments.Length - 1; i++)
        {
            if (parent[segments[i]] is not JsonObject child)
            {
                child = [];
                parent[segments[i]] = child;
            }

            parent = child;
        }

        parent[segments[^1]] = value;
    }
}

/// <summary><see cref="SessionCacheOptions.ShapeSession"/>: the app's .NET code shapes the session.</summary>
internal sealed partial class CodeHook(Func<SessionShapingContext, JsonObject?> hook, SessionStrategy strategy, ILogger<CodeHook> logger) : ISessionShaper
{
    public ShapedSession ShapeJwt(byte[] token, string expires, ReadOnlySpan<byte> defaultSession) => Shape(token, default, defaultSession);

    public ShapedSession ShapeDatabase(DatabaseRow session, DatabaseRow user, ReadOnlySpan<byte> defaultSession) => Shape(null, user.Json, defaultSession);

    private ShapedSession Shape(byte[]? token, byte[]? user, ReadOnlySpan<byte> defaultSession)
    {
        using var tokenDocument = token is null ? null : JsonDocument.Parse(token);
        using var userDocument = user is null ? null : JsonDocument.Parse(user);
        var context = new SessionShapingContext(
            strategy,
            tokenDocument?.RootElement ?? default,
            userDocument?.RootElement ?? default,
            JsonNode.Parse(defaultSession)!.AsObject());
        byte[]? shaped;
        try
        {
            shaped = hook(context) is { } session ? JsonSerializer.SerializeToUtf8Bytes(session, SessionShaping.Relaxed) : null;
        }
#pragma warning disable CA1031 // An app's hook failing is what Auth.js' callbacks failing is: no session, never a crash.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            LogHookFailed(logger, exception.GetType().Name);
            return ShapedSession.Failed($"the ShapeSession hook threw {exception.GetType().Name}");
        }

        return shaped is null ? ShapedSession.Failed("the ShapeSession hook returned null") : ShapedSession.Of(shaped, null);
    }

    // By type: the exception's message can quote the token or the user.
    [LoggerMessage(EventId = 1203, Level = LogLevel.Warning, Message = "The ShapeSession hook threw {ExceptionType}: no session")]
    private static partial void LogHookFailed(ILogger logger, string exceptionType);
}

/// <summary>
/// The configured shaper, made once per process and shared by the sources. The options validator
/// makes it at start, so that the callbacks module is read and loaded once, and a broken one stops
/// the start instead of failing lookups.
/// </summary>
internal sealed class ConfiguredShaper(ILoggerFactory loggers) : IDisposable
{
    private readonly System.Threading.Lock _gate = new();
    private ISessionShaper? _shaper;
    private bool _created;

    /// <exception cref="SessionShapingException">The callbacks module cannot be loaded; nothing is kept, so the next call tries again.</exception>
    public ISessionShaper? GetOrCreate(SessionCacheOptions value)
    {
        lock (_gate)
        {
            if (!_created)
            {
                _shaper = SessionShaping.Create(value, loggers);
                _created = true;
            }

            return _shaper;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            (_shaper as IDisposable)?.Dispose();
        }
    }
}
