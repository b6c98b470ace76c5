using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs;

namespace SessionCache.Hosting;

/// <summary>
/// What stands in front of the dashboard's pages, in order: the reverse proxies' forwarding
/// headers (only from <c>SessionCache:Dashboard:KnownProxies</c>), the sign-in rate limit per
/// client address, then the key check (<see cref="DashboardAccessMiddleware"/>).
/// </summary>
internal static partial class DashboardSecurity
{
    /// <summary>Sign-in attempts (<c>POST /dashboard/login</c>) allowed per client address and <see cref="LoginWindow"/>.</summary>
    public const int LoginAttempts = 5;

    /// <summary>The window <see cref="LoginAttempts"/> are counted over.</summary>
    public static readonly TimeSpan LoginWindow = TimeSpan.FromMinutes(1);

    /// <summary>The headers by which a proxy says it forwards someone else's request.</summary>
    private static readonly string[] ForwardingHeaders = ["Forwarded", "X-Forwarded-For", "X-Real-IP"];

    /// <summary>The services the dashboard's sign-in needs: antiforgery tokens and ASP.NET Core's rate limiter.</summary>
    public static IServiceCollection AddSessionCacheDashboard(this IServiceCollection services)
    {
        // Neither changes the app's own settings: the defaults of a co-hosting app's antiforgery
        // are used as they are, and the limiter's options are the dashboard branch's own.
        services.AddAntiforgery();
        services.AddRateLimiter(static _ => { });
        return services;
    }

    /// <summary>Puts the forwarding headers, the rate limit and the key check in front of <c>/dashboard</c>.</summary>
    public static IApplicationBuilder UseSessionCacheDashboard(this IApplicationBuilder app) =>
        app.UseWhen(static context => context.Request.Path.StartsWithSegments("/dashboard"), static branch => branch
            .UseMiddleware<DashboardForwardedHeadersMiddleware>()
            .UseRateLimiter(LoginRateLimit(branch.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(DashboardSecurity))))
            .UseMiddleware<DashboardAccessMiddleware>()
            .UseMiddleware<OrleansDashboardLinkMiddleware>());

    /// <summary>
    /// Whether the request is this machine's own: from loopback (as the proxies listed in
    /// <c>SessionCache:Dashboard:KnownProxies</c> report it), and not carrying a forwarding header
    /// nobody trusted consumed. A reverse proxy on the same machine connects from loopback; the
    /// client it forwards is not local.
    /// </summary>
    public static bool IsLocal(HttpContext context) =>
        context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote)
        && !ForwardingHeaders.Any(header => context.Request.Headers.ContainsKey(header));

    /// <summary><see cref="LoginAttempts"/> sign-ins per client address and minute; everything else unlimited.</summary>
    private static RateLimiterOptions LoginRateLimit(ILogger logger) => new()
    {
        GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(static context =>
            HttpMethods.IsPost(context.Request.Method) && context.Request.Path.Equals(SessionsDashboard.LoginPath, StringComparison.OrdinalIgnoreCase)
                ? RateLimitPartition.GetFixedWindowLimiter(context.Connection.RemoteIpAddress?.ToString() ?? "unknown", static _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = LoginAttempts,
                    Window = LoginWindow,
                    QueueLimit = 0,
                    AutoReplenishment = true,
                })
                : RateLimitPartition.GetNoLimiter(string.Empty)),
        RejectionStatusCode = StatusCodes.Status429TooManyRequests,
        OnRejected = async (rejected, cancellationToken) =>
        {
            var seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter)
                ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))
                : (int)LoginWindow.TotalSeconds;
            LogLoginRateLimited(logger, LoginAttempts, seconds);
            var response = rejected.HttpContext.Response;
            response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            response.ContentType = "text/plain; charset=utf-8";
            await response.WriteAsync(
                $"Too many sign-in attempts from this address (at most {LoginAttempts} a minute); try again in {seconds.ToString(CultureInfo.InvariantCulture)} s.",
                cancellationToken);
        },
    };

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "A dashboard sign-in was refused: more than {Attempts} attempts a minute from one address; retry in {Seconds} s")]
    private static partial void LogLoginRateLimited(ILogger logger, int attempts, int seconds);
}

/// <summary>
/// ASP.NET Core's forwarded headers (<c>X-Forwarded-For</c>, <c>X-Forwarded-Proto</c>) for the
/// dashboard, believed only from the proxies in <c>SessionCache:Dashboard:KnownProxies</c>; with
/// none listed, nothing is rewritten.
/// </summary>
internal sealed class DashboardForwardedHeadersMiddleware
{
    private readonly RequestDelegate _next;

    public DashboardForwardedHeadersMiddleware(RequestDelegate next, IOptions<SessionCacheOptions> options, ILoggerFactory loggers)
    {
        var proxies = options.Value.Dashboard.KnownProxies;
        if (proxies.Count == 0)
        {
            _next = next;
            return;
        }

        var forwarded = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto,
            // Through a chain of listed proxies back to the first address none of them is.
            ForwardLimit = null,
        };

        // Only the listed ones: not ASP.NET Core's default of trusting loopback.
        forwarded.KnownProxies.Clear();
        forwarded.KnownIPNetworks.Clear();
        foreach (var proxy in proxies)
        {
            // Validated at start (SessionCacheOptionsValidator), so every entry parses.
            if (DashboardOptions.TryParseProxy(proxy, out var network))
            {
                forwarded.KnownIPNetworks.Add(network);
            }
        }

        _next = new ForwardedHeadersMiddleware(next, loggers, Options.Create(forwarded)).Invoke;
    }

    public Task InvokeAsync(HttpContext context) => _next(context);
}
