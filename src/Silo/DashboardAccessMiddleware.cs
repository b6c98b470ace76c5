using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs;

namespace SessionCache.Silo;

/// <summary>
/// The dashboard shows the cluster's inner workings: it answers requests bearing
/// <c>SessionCache:ApiKey</c>, and without a configured key only requests from loopback.
/// </summary>
internal sealed class DashboardAccessMiddleware(RequestDelegate next, IOptions<SessionCacheOptions> options)
{
    public Task InvokeAsync(HttpContext context)
    {
        var apiKey = options.Value.ApiKey;
        var allowed = string.IsNullOrEmpty(apiKey)
            ? context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote)
            : HasKey(context.Request, apiKey);
        if (allowed)
        {
            return next(context);
        }

        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }

    private static bool HasKey(HttpRequest request, string apiKey)
    {
        var header = request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()), Encoding.UTF8.GetBytes(apiKey));
    }
}
