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

    /// <summary>
    /// The session fields (dotted paths) whose values become role claims (type <c>role</c>, what
    /// <c>[Authorize(Roles = "admin")]</c> and <c>RequireRole</c> read): a string is one role, an
    /// array of strings several. Default <c>user.role</c>, <c>user.roles</c>, <c>role</c> and <c>roles</c>;
    /// <c>Clear()</c> it first to replace them. Only these fields grant roles: a field named
    /// <c>role</c> that is not listed becomes no claim at all.
    /// </summary>
    public IList<string> RoleFields { get; } = ["user.role", "user.roles", "role", "roles"];
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
                var principal = new ClaimsPrincipal(SessionClaims.Build(result, Scheme.Name, Options.RoleFields));
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

/// <summary>
/// Turns a session into claims: subject, name, e-mail, picture, every further field, and the role
/// fields as <c>role</c> claims.
/// </summary>
internal static class SessionClaims
{
    public const string Subject = "sub";
    public const string Name = "name";
    public const string Email = "email";
    public const string Picture = "picture";
    public const string Role = "role";

    public static ClaimsIdentity Build(SessionLookupResult result, string authenticationType, IList<string>? roleFields = null)
    {
        roleFields ??= [];
        var identity = new ClaimsIdentity(authenticationType, Name, Role);
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
                    _ when roleFields.Contains("user." + property.Name) => null,

                    // "role" is the role claim type: only the role fields may grant one.
                    Role => null,
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
            if (property.Name is not ("user" or Role) && !roleFields.Contains(property.Name))
            {
                AddClaims(identity, property.Name, property.Value);
            }
        }

        foreach (var field in roleFields)
        {
            if (SessionCache.AuthJs.Internals.JsonPath.TryGet(document.RootElement, field, out var roles))
            {
                AddRoles(identity, roles);
            }
        }

        return identity;
    }

    private static void AddRoles(ClaimsIdentity identity, JsonElement roles)
    {
        if (roles.ValueKind == JsonValueKind.String && roles.GetString() is { Length: > 0 } role && !identity.HasClaim(Role, role))
        {
            identity.AddClaim(new Claim(Role, role));
        }
        else if (roles.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in roles.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String)
                {
                    AddRoles(identity, item);
                }
            }
        }
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
