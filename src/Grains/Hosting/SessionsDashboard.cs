using System.Net;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs;
using SessionCache.Contracts;

namespace SessionCache.Hosting;

/// <summary>
/// What the Orleans dashboard cannot show: this product's own numbers, as live charts at
/// <c>/dashboard/sessions</c> (lookups per second, hit ratio, upstream calls and errors, latency
/// percentiles, invalidations, live sessions per silo), fed by <c>/dashboard/sessions/stats</c>,
/// plus the key form that lets a browser in when <c>SessionCache:ApiKey</c> is set.
/// </summary>
internal static partial class SessionsDashboard
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private static readonly Lazy<string> Page = new(static () =>
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("SessionCache.Hosting.SessionsDashboard.html")
            ?? throw new InvalidOperationException("The dashboard page is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public static IEndpointRouteBuilder MapSessionsDashboard(this IEndpointRouteBuilder app)
    {
        app.MapGet("/dashboard/sessions", static () => Results.Content(Page.Value, "text/html; charset=utf-8"));
        app.MapGet("/dashboard/sessions/stats", static async (IGrainFactory grains, ILoggerFactory loggers, int? seconds, CancellationToken cancellationToken) =>
        {
            try
            {
                var stats = await grains.GetGrain<IClusterStatsGrain>(0).GetAsync(seconds ?? 120).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
                return Results.Json(stats, Json);
            }
            catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogStatsFailed(loggers.CreateLogger(typeof(SessionsDashboard)), exception.GetType().Name);
                return Results.Problem("The cluster's statistics are unavailable: " + exception.GetType().Name, statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        });
        app.MapGet("/dashboard/login", static (string? returnUrl, bool? failed) => Results.Content(LoginPage(SafeReturnUrl(returnUrl), failed == true), "text/html; charset=utf-8"));
        app.MapPost("/dashboard/login", static async (HttpContext context, IOptions<SessionCacheOptions> options) =>
        {
            var form = await context.Request.ReadFormAsync(context.RequestAborted);
            var returnUrl = SafeReturnUrl(form["returnUrl"]);
            var apiKey = options.Value.ApiKey;
            if (string.IsNullOrEmpty(apiKey))
            {
                return Results.Redirect(returnUrl);
            }

            var presented = form["key"].ToString();
            if (!string.Equals(DashboardAccessMiddleware.CookieValue(presented), DashboardAccessMiddleware.CookieValue(apiKey), StringComparison.Ordinal))
            {
                return Results.Redirect("/dashboard/login?failed=true&returnUrl=" + Uri.EscapeDataString(returnUrl));
            }

            context.Response.Cookies.Append(DashboardAccessMiddleware.CookieName, DashboardAccessMiddleware.CookieValue(apiKey), new CookieOptions
            {
                Path = "/dashboard",
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                Secure = context.Request.IsHttps,
                MaxAge = TimeSpan.FromHours(12),
            });
            return Results.Redirect(returnUrl);
        }).DisableAntiforgery();
        return app;
    }

    // Only back into the dashboard: the form must not become an open redirect.
    private static string SafeReturnUrl(string? returnUrl) =>
        returnUrl is not null && returnUrl.StartsWith("/dashboard", StringComparison.Ordinal) && !returnUrl.StartsWith("//", StringComparison.Ordinal)
            ? returnUrl
            : "/dashboard/sessions";

    private static string LoginPage(string returnUrl, bool failed) => $$"""
        <!doctype html><html><head><meta charset="utf-8"><title>Session cache dashboard</title>
        <style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;margin:.5rem 0}button{font:inherit;padding:.4rem 1rem}.error{color:#b00}</style>
        </head><body><h1>Session cache dashboard</h1>
        <p>Enter the cluster's API key (<code>SessionCache:ApiKey</code>).</p>
        {{(failed ? "<p class=\"error\" id=\"failed\">That is not the key.</p>" : "")}}
        <form method="post" action="/dashboard/login"><input type="password" name="key" id="key" autofocus autocomplete="current-password">
        <input type="hidden" name="returnUrl" value="{{WebUtility.HtmlEncode(returnUrl)}}"><button type="submit" id="sign-in">Open the dashboard</button></form>
        </body></html>
        """;

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "The dashboard could not read the cluster's statistics: {Exception}")]
    private static partial void LogStatsFailed(ILogger logger, string exception);
}
