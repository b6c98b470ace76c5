using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using SessionCache.AspNetCore;
using SessionCache.AuthJs;

namespace SessionCache.Hosting;

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
            : ApiKey.IsPresentedBy(context.Request, apiKey);
        if (allowed)
        {
            return next(context);
        }

        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }
}
