using System.Net;
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
/// requests from loopback.
/// </summary>
internal sealed class DashboardAccessMiddleware(RequestDelegate next, IOptions<SessionCacheOptions> options)
{
    /// <summary>The browser's proof of the key: an HMAC of a fixed label, never the key itself.</summary>
    public const string CookieName = "sessioncache-dashboard";

    public Task InvokeAsync(HttpContext context)
    {
        var apiKey = options.Value.ApiKey;
        if (IsAllowed(context, apiKey) || context.Request.Path.StartsWithSegments("/dashboard/login"))
        {
            return next(context);
        }

        // A person with a browser gets the key form; a script gets the challenge.
        if (!string.IsNullOrEmpty(apiKey) && HttpMethods.IsGet(context.Request.Method)
            && context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase))
        {
            var back = context.Request.PathBase + context.Request.Path + context.Request.QueryString;
            context.Response.Redirect("/dashboard/login?returnUrl=" + Uri.EscapeDataString(back));
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
            return context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote);
        }

        return ApiKey.IsPresentedBy(context.Request, apiKey)
            || (context.Request.Cookies.TryGetValue(CookieName, out var proof) && CryptographicOperations.FixedTimeEquals(
                SHA256.HashData(Encoding.UTF8.GetBytes(proof)), SHA256.HashData(Encoding.UTF8.GetBytes(CookieValue(apiKey)))));
    }

    /// <summary>What the cookie holds for <paramref name="apiKey"/>: changing the key signs every browser out.</summary>
    public static string CookieValue(string apiKey) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(apiKey), "sessioncache-dashboard-v1"u8))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
