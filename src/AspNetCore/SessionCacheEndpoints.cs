using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SessionCache.AuthJs;

namespace SessionCache.AspNetCore;

/// <summary>The cluster's HTTP API: the Auth.js session endpoint, and invalidation.</summary>
public static partial class SessionCacheEndpoints
{
    /// <summary>Where the session endpoint answers: Auth.js' own path.</summary>
    public const string SessionPath = "/api/auth/session";

    /// <summary>Where invalidations are posted.</summary>
    public const string InvalidatePath = "/api/sessions/invalidate";

    private const int MaxInvalidateBodyBytes = 64 * 1024;

    private const string ExpectedBody =
        "expected a JSON object with \"userId\" (sign the user out everywhere), \"sessionToken\" (sign one session out), " +
        "or Auth.js' events.signOut message as it is: {\"token\": {\"sub\": ...}} (JWT sessions) or {\"session\": {\"sessionToken\": ...}} (database sessions)";

    /// <summary>
    /// Maps <c>GET /api/auth/session</c>, which answers what Auth.js answers for the same cookies
    /// (the session JSON, or <c>null</c>), and <c>POST /api/sessions/invalidate</c>, which takes the
    /// <c>SessionCache:ApiKey</c> as a bearer token.
    /// </summary>
    /// <param name="endpoints">The route builder.</param>
    /// <returns>A builder for both endpoints, to add policies to.</returns>
    public static IEndpointConventionBuilder MapSessionCacheApi(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var group = endpoints.MapGroup(string.Empty);
        group.MapGet(SessionPath, GetSessionAsync);
        group.MapPost(InvalidatePath, (Delegate)InvalidateAsync);
        return group;
    }

    private static async Task GetSessionAsync(HttpContext context)
    {
        var resolver = context.RequestServices.GetRequiredService<ISessionResolver>();
        var result = await resolver.LookupAsync(SessionRequest.FromHttpRequest(context.Request), context.RequestAborted);
        var response = context.Response;

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

    private static async Task<IResult> InvalidateAsync(HttpContext context)
    {
        var services = context.RequestServices;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SessionCacheEndpoints).FullName!);
        var apiKey = services.GetRequiredService<IConfiguration>()["SessionCache:ApiKey"];
        if (string.IsNullOrEmpty(apiKey))
        {
            LogInvalidateWithoutKey(logger);
            return Unauthorized("Invalidation is disabled: set SessionCache:ApiKey on the silos and send it as \"Authorization: Bearer <key>\".");
        }

        if (!ApiKey.IsPresentedBy(context.Request, apiKey))
        {
            return Unauthorized("Send SessionCache:ApiKey as \"Authorization: Bearer <key>\".");
        }

        var request = context.Request;
        if (request.ContentLength > MaxInvalidateBodyBytes)
        {
            return BadRequest($"The body is larger than {MaxInvalidateBodyBytes} bytes; {ExpectedBody}.");
        }

        JsonDocument document;
        try
        {
            using var body = new MemoryStream();
            await CopyLimitedAsync(request.Body, body, MaxInvalidateBodyBytes, context.RequestAborted);
            document = JsonDocument.Parse(body.ToArray());
        }
        catch (JsonException exception)
        {
            return BadRequest($"The body is not JSON ({exception.Message}); {ExpectedBody}.");
        }
        catch (InvalidDataException)
        {
            return BadRequest($"The body is larger than {MaxInvalidateBodyBytes} bytes; {ExpectedBody}.");
        }

        using (document)
        {
            if (!TryReadTargets(document.RootElement, out var userIds, out var tokens, out var error))
            {
                return BadRequest(error);
            }

            var cache = services.GetRequiredService<ISessionCache>();
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
                context.Response.Headers.RetryAfter = "1";
                return Results.Json(new { error = "session_unavailable", message = exception.Message }, statusCode: StatusCodes.Status503ServiceUnavailable);
            }

            return Results.Json(new { invalidated = new { users = userIds.Count, sessions = tokens.Count } });
        }
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
                "deleteSession returned nothing (@auth/pg-adapter does); make it return the deleted session (see the README), " +
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

    private static IResult Unauthorized(string message) =>
        Results.Json(new { error = "unauthorized", message }, statusCode: StatusCodes.Status401Unauthorized);

    private static IResult BadRequest(string message) =>
        Results.Json(new { error = "bad_request", message }, statusCode: StatusCodes.Status400BadRequest);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "An invalidation was refused: SessionCache:ApiKey is not set")]
    private static partial void LogInvalidateWithoutKey(ILogger logger);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "An invalidation could not complete: {Reason}")]
    private static partial void LogInvalidateFailed(ILogger logger, string reason);
}
