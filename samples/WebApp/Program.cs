using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using SessionCache.AspNetCore;
using SessionCache.Hosting;

var builder = WebApplication.CreateBuilder(args);

// Co-host a silo of the session cache cluster: grains, session API, dashboard, health.
builder.AddSessionCacheSilo();

// Authenticate requests by their Auth.js session, through the silo in this process.
builder.Services.AddAuthentication(AuthJsAuthenticationOptions.DefaultScheme).AddAuthJs();
builder.Services.AddAuthorization();

var app = builder.Build();

// /api/auth/session, /api/sessions/invalidate, /health and /dashboard.
app.MapSessionCacheEndpoints();

app.MapGet("/", () => "Session cache sample. GET /me with an Auth.js session cookie.");

// A protected endpoint: 401 without a session, 503 when sessions cannot be resolved.
app.MapGet("/me", (ClaimsPrincipal user) => new
{
    id = user.FindFirstValue("sub"),
    name = user.Identity?.Name,
    email = user.FindFirstValue("email"),
    roles = user.FindAll("role").Select(static c => c.Value),
}).RequireAuthorization();

// Only for admins: the session's user.role (as the app's session callback exposes it) is a role
// claim. 403 for a signed-in member.
app.MapGet("/admin", [Authorize(Roles = "admin")] (ClaimsPrincipal user) => new { admin = user.Identity?.Name });

app.Run();

/// <summary>The sample app; public so that tests can host it.</summary>
public partial class Program;
