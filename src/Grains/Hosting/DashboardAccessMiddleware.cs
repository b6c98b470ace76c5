using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using SessionCache.AspNetCore;
using SessionCache.AuthJs;

namespace SessionCache.Hosting;

/// <summary>
/// The dashboard shows the cluster's inner workings. With <c>SessionCache:ApiKey</c> set it answers
/// requests bearing the key (<c>Authorization: Bearer</c>, for scripts) or the cookie that
/// <c>/dashboard/login</c> sets once a person typed the key (for browsers); without a key, only
/// this machine's own requests (<see cref="DashboardSecurity.IsLocal"/>): from loopback, and
/// not forwarded by a proxy for someone else.
/// </summary>
internal sealed class DashboardAccessMiddleware(RequestDelegate next, IOptions<SessionCacheOptions> options)
{
    /// <summary>The browser's proof of the key: an HMAC of a fixed label, never the key itself.</summary>
    public const string CookieName = "sessioncache-dashboard";

    public Task InvokeAsync(HttpContext context)
    {
        var apiKey = options.Value.ApiKey;
        if (IsAllowed(context, apiKey) || context.Request.Path.StartsWithSegments(SessionsDashboard.LoginPath))
        {
            return next(context);
        }

        if (string.IsNullOrEmpty(apiKey))
        {
            // There is no key to present: say why, rather than ask for one.
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            context.Response.ContentType = "text/plain; charset=utf-8";
            return context.Response.WriteAsync(
                "Without SessionCache:ApiKey the dashboard answers only this machine's own requests (loopback, not forwarded by a proxy); set SessionCache:ApiKey to open it to others.",
                context.RequestAborted);
        }

        // A person with a browser gets the key form; a script gets the challenge.
        if (HttpMethods.IsGet(context.Request.Method)
            && context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
        {
            var back = context.Request.PathBase + context.Request.Path + context.Request.QueryString;
            context.Response.Redirect(SessionsDashboard.LoginPath + "?returnUrl=" + Uri.EscapeDataString(back));
            return Task.CompletedTask;
        }

        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }

    private static bool IsAllowed(HttpContext context, string? apiKey)
    {
        if (string.IsNullOrEmpty(apiKey))
        {
            return DashboardSecurity.IsLocal(context);
        }

        return ApiKey.IsPresentedBy(context.Request, apiKey)
            || (context.Request.Cookies.TryGetValue(CookieName, out var proof) && ApiKey.Matches(proof, CookieValue(apiKey)));
    }

    /// <summary>What the cookie holds for <paramref name="apiKey"/>: changing the key signs every browser out.</summary>
    public static string CookieValue(string apiKey) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(apiKey), "sessioncache-dashboard-v1"u8))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
