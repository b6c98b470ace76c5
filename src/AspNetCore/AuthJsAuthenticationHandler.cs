using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs;

namespace SessionCache.AspNetCore;

/// <summary>Options of the <c>AuthJs</c> authentication scheme.</summary>
public sealed class AuthJsAuthenticationOptions : AuthenticationSchemeOptions
{
    /// <summary>The default scheme name: <c>AuthJs</c>.</summary>
    public const string DefaultScheme = "AuthJs";

    /// <summary>
    /// The <c>Retry-After</c> seconds sent with the 503 answer when sessions cannot be resolved
    /// (the upstream Auth.js server, the database or the cluster failed). Default 5.
    /// </summary>
    public int RetryAfterSeconds { get; set; } = 5;
}

/// <summary>
/// Authenticates requests by their Auth.js session, through whatever <see cref="ISessionResolver"/>
/// is registered: the cluster's cache in a silo or a client. A request without a valid session
/// is anonymous, and challenging it gives 401; when the session cannot be resolved the request
/// fails with 503, never a silent anonymous user.
/// </summary>
internal sealed class AuthJsAuthenticationHandler(
    IOptionsMonitor<AuthJsAuthenticationOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder) : AuthenticationHandler<AuthJsAuthenticationOptions>(options, logger, encoder)
{
    private static readonly object UnavailableKey = new();

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var resolver = Context.RequestServices.GetService<ISessionResolver>()
            ?? throw new InvalidOperationException("The AuthJs authentication scheme needs the session API: co-host a silo (AddSessionCacheSilo) or connect a client (AddSessionCacheClient).");
        var result = await resolver.LookupAsync(SessionRequest.FromHttpRequest(Request), Context.RequestAborted);
        switch (result.Status)
        {
            case SessionLookupStatus.Session:
                var principal = new ClaimsPrincipal(SessionClaims.Build(result, Scheme.Name));
                var properties = new AuthenticationProperties { ExpiresUtc = result.Session!.Expires };
                return AuthenticateResult.Success(new AuthenticationTicket(principal, properties, Scheme.Name));
            case SessionLookupStatus.UpstreamError:
                Context.Items[UnavailableKey] = result;
                return AuthenticateResult.Fail(new SessionUnavailableException(result));
            default:
                return AuthenticateResult.NoResult();
        }
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Context.Items.ContainsKey(UnavailableKey))
        {
            Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            Response.Headers.RetryAfter = Options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            Response.ContentType = "application/json";
            await Response.WriteAsync("""{"error":"session_unavailable","message":"The session could not be resolved right now; try again."}""", Context.RequestAborted);
            return;
        }

        Response.StatusCode = StatusCodes.Status401Unauthorized;
    }
}

/// <summary>Turns a session into claims: subject, name, e-mail, picture, and every further field.</summary>
internal static class SessionClaims
{
    public const string Subject = "sub";
    public const string Name = "name";
    public const string Email = "email";
    public const string Picture = "picture";

    public static ClaimsIdentity Build(SessionLookupResult result, string authenticationType)
    {
        var identity = new ClaimsIdentity(authenticationType, Name, "role");
        var session = result.Session!;
        if (result.UserId is { } userId)
        {
            identity.AddClaim(new Claim(Subject, userId));
            identity.AddClaim(new Claim(ClaimTypes.NameIdentifier, userId));
        }

        using var document = session.ToJsonDocument();
        if (document.RootElement.TryGetProperty("user"u8, out var user) && user.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in user.EnumerateObject())
            {
                var type = property.Name switch
                {
                    "image" => Picture,
                    "id" when result.UserId is not null => null,
                    _ => property.Name,
                };
                if (type is not null)
                {
                    AddClaims(identity, type, property.Value);
                }
            }
        }

        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Name is not "user")
            {
                AddClaims(identity, property.Name, property.Value);
            }
        }

        return identity;
    }

    private static void AddClaims(ClaimsIdentity identity, string type, JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                identity.AddClaim(new Claim(type, value.GetString()!));
                break;
            case JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False:
                identity.AddClaim(new Claim(type, value.GetRawText(), value.ValueKind == JsonValueKind.Number ? ClaimValueTypes.Double : ClaimValueTypes.Boolean));
                break;
            case JsonValueKind.Array:
                foreach (var item in value.EnumerateArray())
                {
                    AddClaims(identity, type, item);
                }

                break;
            case JsonValueKind.Object:
                identity.AddClaim(new Claim(type, value.GetRawText(), "json"));
                break;
        }
    }
}
