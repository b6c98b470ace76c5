using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs;

namespace SessionCache.AspNetCore;

/// <summary>The cluster's HTTP API: the Auth.js session endpoint, and invalidation.</summary>
public static partial class SessionCacheEndpoints
{
    /// <summary>Where the session endpoint answers: Auth.js' own path.</summary>
    public const string SessionPath = "/api/auth/session";

    /// <summary>Where invalidations are posted.</summary>
    public const string InvalidatePath = "/api/sessions/invalidate";

    /// <summary>Where an Auth.js app asks whether a sign-in was signed out since.</summary>
    public const string StatusPath = "/api/sessions/status";

    private const int MaxInvalidateBodyBytes = 64 * 1024;

    // A user id of at most MaxUserIdLength characters and a number fit with room to spare.
    private const int MaxStatusBodyBytes = 4 * 1024;

    private const string ExpectedStatusBody =
        "expected a JSON object {\"userId\": \"<token.sub>\", \"signedInAt\": <token.auth_time, Unix seconds>}";

    private const string ExpectedBody =
        "expected a JSON object with \"userId\" (sign the user out everywhere), \"sessionToken\" (sign one session out), " +
        "or Auth.js' events.signOut message as it is: {\"token\": {\"sub\": ...}} (JWT sessions) or {\"session\": {\"sessionToken\": ...}} (database sessions)";

    /// <summary>
    /// Maps <c>GET /api/auth/session</c>, which answers what Auth.js answers for the same cookies
    /// (the session JSON, or <c>null</c>), with the cookies Auth.js would set where this process
    /// holds the secrets; <c>POST /api/sessions/invalidate</c>; and <c>POST /api/sessions/status</c>,
    /// which tells an Auth.js app whether a sign-in was signed out. The last two take the
    /// <c>SessionCache:ApiKey</c> as a bearer token: <see cref="SessionCacheOptions.ApiKey"/>, the
    /// options value the dashboard reads too, whether it came from configuration or from code.
    /// </summary>
    /// <param name="endpoints">The route builder.</param>
    /// <returns>A builder for both endpoints, to add policies to.</returns>
    /// <exception cref="InvalidOperationException">
    /// Nothing configures <see cref="SessionCacheOptions"/> (neither <c>AddAuthJsSessionResolution</c>,
    /// which <c>AddSessionCacheSilo</c> calls, nor <c>Configure&lt;SessionCacheOptions&gt;</c>): the key
    /// could never be set, and the endpoints would refuse every call.
    /// </exception>
    public static IEndpointConventionBuilder MapSessionCacheApi(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        if (!endpoints.ServiceProvider.GetServices<IConfigureOptions<SessionCacheOptions>>().Any()
            && !endpoints.ServiceProvider.GetServices<IPostConfigureOptions<SessionCacheOptions>>().Any())
        {
            throw new InvalidOperationException(
                "MapSessionCacheApi checks SessionCache:ApiKey through IOptions<SessionCacheOptions>, which nothing configures: call " +
                "services.AddAuthJsSessionResolution(configuration) (AddSessionCacheSilo does), or bind it yourself with " +
                "services.AddOptions<SessionCacheOptions>().Bind(configuration.GetSection(\"SessionCache\")) or set it with " +
                "services.Configure<SessionCacheOptions>(o => o.ApiKey = ...).");
        }

        var group = endpoints.MapGroup(string.Empty);
        group.MapGet(SessionPath, GetSessionAsync);
        group.MapPost(InvalidatePath, (Delegate)InvalidateAsync);
        group.MapPost(StatusPath, (Delegate)StatusAsync);
        return group;
    }

    private static async Task GetSessionAsync(HttpContext context)
    {
        var resolver = context.RequestServices.GetRequiredService<ISessionResolver>();
        var request = SessionRequest.FromHttpRequest(context.Request);
        var result = await resolver.LookupAsync(request, context.RequestAborted);
        var response = context.Response;
        if (context.RequestServices.GetService<ISessionCookieWriter>() is { } cookies)
        {
            foreach (var cookie in cookies.SetCookies(request, result))
            {
                response.Headers.Append("Set-Cookie", cookie);
            }
        }

        // What Auth.js sends with its session answers.
        response.Headers.CacheControl = "private, no-cache, no-store";
        response.Headers.Pragma = "no-cache";
        response.Headers.Expires = "0";
        response.ContentType = "application/json";
        if (result.Status == SessionLookupStatus.Session)
        {
            await response.Body.WriteAsync(result.Session!.Json, context.RequestAborted);
            return;
        }

        if (result.Status == SessionLookupStatus.UpstreamError)
        {
            response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            response.Headers.RetryAfter = "5";
            await response.WriteAsync("""{"error":"session_unavailable","message":"The session could not be resolved right now; try again."}""", context.RequestAborted);
            return;
        }

        await response.Body.WriteAsync("null"u8.ToArray(), context.RequestAborted);
    }

    private static Task<IResult> InvalidateAsync(HttpContext context) =>
        WithAuthorizedJsonAsync(context, MaxInvalidateBodyBytes, ExpectedBody, static async (context, root, logger) =>
        {
            if (!TryReadTargets(root, out var userIds, out var tokens, out var error))
            {
                return BadRequest(error);
            }

            var cache = context.RequestServices.GetRequiredService<ISessionCache>();
            try
            {
                foreach (var userId in userIds)
                {
                    await cache.InvalidateUserAsync(userId, context.RequestAborted);
                }

                foreach (var token in tokens)
                {
                    await cache.InvalidateSessionAsync(token, context.RequestAborted);
                }
            }
            catch (SessionUnavailableException exception)
            {
                // Not made durable, so not reported as done: the caller (events.signOut) retries.
                LogInvalidateFailed(logger, exception.Message);
                return Unavailable(context, exception);
            }

            return Results.Json(new { invalidated = new { users = userIds.Count, sessions = tokens.Count } });
        });

    private static Task<IResult> StatusAsync(HttpContext context) =>
        WithAuthorizedJsonAsync(context, MaxStatusBodyBytes, ExpectedStatusBody, static async (context, root, logger) =>
        {
            if (!TryReadStatusQuery(root, out var userId, out var signedInAt, out var error))
            {
                return BadRequest(error);
            }

            try
            {
                var signedOut = await context.RequestServices.GetRequiredService<ISessionCache>().IsSignedOutAsync(userId, signedInAt, context.RequestAborted);
                return Results.Json(new { signedOut });
            }
            catch (SessionUnavailableException exception)
            {
                LogStatusFailed(logger, exception.Message);
                return Unavailable(context, exception);
            }
        });

    /// <summary>The API key check and the bounded JSON body of the authenticated endpoints, then <paramref name="handle"/>.</summary>
    private static async Task<IResult> WithAuthorizedJsonAsync(HttpContext context, int limit, string expected, Func<HttpContext, JsonElement, ILogger, Task<IResult>> handle)
    {
        var logger = Logger(context.RequestServices);
        if (Authorize(context, logger) is { } refused)
        {
            return refused;
        }

        var (document, failure) = await ReadJsonAsync(context, limit, expected);
        if (failure is not null)
        {
            return failure;
        }

        using (document)
        {
            return await handle(context, document!.RootElement, logger);
        }
    }

    /// <summary>Reads a status query: a user id and a sign-in time in Unix seconds.</summary>
    internal static bool TryReadStatusQuery(JsonElement root, out string userId, out DateTimeOffset signedInAt, out string error)
    {
        userId = string.Empty;
        signedInAt = default;
        error = string.Empty;
        if (root.ValueKind != JsonValueKind.Object)
        {
            error = $"The body is a JSON {root.ValueKind.ToString().ToLowerInvariant()}; {ExpectedStatusBody}.";
            return false;
        }

        var ids = new List<string>(1);
        if (!root.TryGetProperty("userId"u8, out var id))
        {
            error = $"\"userId\" is missing; {ExpectedStatusBody}.";
            return false;
        }

        if (!Add(ids, id, "userId", SessionCacheLimits.MaxUserIdLength, ref error))
        {
            return false;
        }

        // Seconds between year 1 and 9999, as JWT NumericDates are; milliseconds would be year 50,000 and more.
        if (!root.TryGetProperty("signedInAt"u8, out var time) || time.ValueKind != JsonValueKind.Number
            || !time.TryGetDouble(out var seconds) || seconds is < -62_135_596_800d or > 253_402_300_799d)
        {
            error = $"\"signedInAt\" must be a number of seconds since 1970 (the token's auth_time, not milliseconds); {ExpectedStatusBody}.";
            return false;
        }

        userId = ids[0];
        signedInAt = DateTimeOffset.FromUnixTimeSeconds((long)Math.Floor(seconds));
        return true;
    }

    /// <summary>Reads who to sign out; everything unknown is ignored, everything malformed is named.</summary>
    internal static bool TryReadTargets(JsonElement root, out List<string> userIds, out List<string> tokens, out string error)
    {
        userIds = [];
        tokens = [];
        error = string.Empty;
        if (root.ValueKind != JsonValueKind.Object)
        {
            error = $"The body is a JSON {root.ValueKind.ToString().ToLowerInvariant()}; {ExpectedBody}.";
            return false;
        }

        if (root.TryGetProperty("userId"u8, out var userId) && !Add(userIds, userId, "userId", SessionCacheLimits.MaxUserIdLength, ref error))
        {
            return false;
        }

        if (root.TryGetProperty("sessionToken"u8, out var sessionToken) && !Add(tokens, sessionToken, "sessionToken", SessionCacheLimits.MaxTokenLength, ref error))
        {
            return false;
        }

        // events.signOut for JWT sessions: the decoded token. Auth.js keeps no list of a user's JWTs,
        // so the user is signed out everywhere.
        if (root.TryGetProperty("token"u8, out var token) && token.ValueKind != JsonValueKind.Null)
        {
            if (token.ValueKind != JsonValueKind.Object || !token.TryGetProperty("sub"u8, out var sub))
            {
                error = "\"token\" must be the decoded Auth.js JWT with its \"sub\" (the user id); without it there is no telling whose sessions to end.";
                return false;
            }

            if (!Add(userIds, sub, "token.sub", SessionCacheLimits.MaxUserIdLength, ref error))
            {
                return false;
            }
        }

        // events.signOut for database sessions: the adapter's session row.
        if (root.TryGetProperty("session"u8, out var session) && session.ValueKind != JsonValueKind.Null)
        {
            if (session.ValueKind != JsonValueKind.Object || !session.TryGetProperty("sessionToken"u8, out var rowToken))
            {
                error = "\"session\" must be the Auth.js adapter session with its \"sessionToken\".";
                return false;
            }

            if (!Add(tokens, rowToken, "session.sessionToken", SessionCacheLimits.MaxTokenLength, ref error))
            {
                return false;
            }
        }

        if (userIds.Count == 0 && tokens.Count == 0 && !root.EnumerateObject().Any())
        {
            error = "The body is an empty object. If it came from events.signOut of a database-session app, the adapter's " +
                "deleteSession returned nothing (@auth/pg-adapter does); make it return the deleted session (see docs/authjs.md), " +
                $"or post {{\"sessionToken\": ...}} yourself. In general, {ExpectedBody}.";
            return false;
        }

        if (userIds.Count == 0 && tokens.Count == 0)
        {
            error = $"Nothing to invalidate: {ExpectedBody}.";
            return false;
        }

        return true;
    }

    private static bool Add(List<string> target, JsonElement value, string name, int maxLength, ref string error)
    {
        if (value.ValueKind != JsonValueKind.String || value.GetString() is not { Length: > 0 } text)
        {
            error = $"\"{name}\" must be a non-empty string.";
            return false;
        }

        if (text.Length > maxLength)
        {
            error = $"\"{name}\" is {text.Length} characters; at most {maxLength} are accepted.";
            return false;
        }

        target.Add(text);
        return true;
    }

    private static async Task CopyLimitedAsync(Stream source, Stream destination, int limit, CancellationToken cancellationToken)
    {
        var buffer = new byte[8192];
        var total = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
        {
            total += read;
            if (total > limit)
            {
                throw new InvalidDataException();
            }

            await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }
    }

    private static ILogger Logger(IServiceProvider services) =>
        services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SessionCacheEndpoints).FullName!);

    /// <summary>The API key check of the authenticated endpoints; <see langword="null"/> when the caller presented it.</summary>
    private static IResult? Authorize(HttpContext context, ILogger logger)
    {
        // The options value, as the dashboard reads it: a key set in code counts as much as one in configuration.
        var apiKey = context.RequestServices.GetRequiredService<IOptions<SessionCacheOptions>>().Value.ApiKey;
        if (string.IsNullOrEmpty(apiKey))
        {
            LogInvalidateWithoutKey(logger);
            return Unauthorized("This endpoint is disabled: set SessionCache:ApiKey on the silos and send it as \"Authorization: Bearer <key>\".");
        }

        return ApiKey.IsPresentedBy(context.Request, apiKey) ? null : Unauthorized("Send SessionCache:ApiKey as \"Authorization: Bearer <key>\".");
    }

    /// <summary>Reads a JSON body of at most <paramref name="limit"/> bytes, or the 400 that says why not.</summary>
    private static async Task<(JsonDocument? Document, IResult? Failure)> ReadJsonAsync(HttpContext context, int limit, string expected)
    {
        var request = context.Request;
        if (request.ContentLength > limit)
        {
            return (null, BadRequest($"The body is larger than {limit} bytes; {expected}."));
        }

        try
        {
            using var body = new MemoryStream();
            await CopyLimitedAsync(request.Body, body, limit, context.RequestAborted);
            return (JsonDocument.Parse(body.ToArray()), null);
        }
        catch (JsonException exception)
        {
            return (null, BadRequest($"The body is not JSON ({exception.Message}); {expected}."));
        }
        catch (InvalidDataException)
        {
            return (null, BadRequest($"The body is larger than {limit} bytes; {expected}."));
        }
    }

    private static IResult Unavailable(HttpContext context, SessionUnavailableException exception)
    {
        context.Response.Headers.RetryAfter = "1";
        return Results.Json(new { error = "session_unavailable", message = exception.Message }, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    private static IResult Unauthorized(string message) =>
        Results.Json(new { error = "unauthorized", message }, statusCode: StatusCodes.Status401Unauthorized);

    private static IResult BadRequest(string message) =>
        Results.Json(new { error = "bad_request", message }, statusCode: StatusCodes.Status400BadRequest);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "A sign-out status query could not be answered: {Reason}")]
    private static partial void LogStatusFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "An authenticated call was refused: SessionCache:ApiKey is not set")]
    private static partial void LogInvalidateWithoutKey(ILogger logger);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "An invalidation could not complete: {Reason}")]
    private static partial void LogInvalidateFailed(ILogger logger, string reason);
}
