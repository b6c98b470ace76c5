using System.Net;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.AspNetCore;
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
    /// <summary>The key form (GET) and the sign-in it posts (POST, rate-limited and antiforgery-checked).</summary>
    public const string LoginPath = "/dashboard/login";

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
        app.MapGet(LoginPath, static (HttpContext context, IAntiforgery antiforgery, string? returnUrl, bool? failed) =>
            LoginPage(context, antiforgery, SafeReturnUrl(returnUrl), failed == true ? "That is not the key." : null));
        app.MapPost(LoginPath, static async (HttpContext context, IAntiforgery antiforgery, IOptions<SessionCacheOptions> options, ILoggerFactory loggers) =>
        {
            // Only a form this dashboard served (its antiforgery token, with the cookie that goes
            // with it) may sign in: another site cannot post a key into a visitor's browser.
            IFormCollection form;
            try
            {
                form = context.Request.HasFormContentType ? await context.Request.ReadFormAsync(context.RequestAborted) : FormCollection.Empty;
            }
            catch (InvalidDataException)
            {
                form = FormCollection.Empty;
            }

            var returnUrl = SafeReturnUrl(form["returnUrl"]);
            if (!context.Request.HasFormContentType || form.Count == 0 || !await antiforgery.IsRequestValidAsync(context))
            {
                LogLoginWithoutAntiforgery(loggers.CreateLogger(typeof(SessionsDashboard)));
                return LoginPage(context, antiforgery, returnUrl, "The form had expired, or did not come from this dashboard; type the key again.", StatusCodes.Status400BadRequest);
            }

            var apiKey = options.Value.ApiKey;
            if (string.IsNullOrEmpty(apiKey))
            {
                return Results.Redirect(returnUrl);
            }

            if (!ApiKey.Matches(form["key"].ToString(), apiKey))
            {
                LogLoginRefused(loggers.CreateLogger(typeof(SessionsDashboard)));
                return Results.Redirect(LoginPath + "?failed=true&returnUrl=" + Uri.EscapeDataString(returnUrl));
            }

            context.Response.Cookies.Append(DashboardAccessMiddleware.CookieName, DashboardAccessMiddleware.CookieValue(apiKey), new CookieOptions
            {
                Path = "/dashboard",
                HttpOnly = true,
                SameSite = SameSiteMode.Strict,
                // The original request's scheme: behind a listed proxy, X-Forwarded-Proto's.
                Secure = context.Request.IsHttps,
                MaxAge = TimeSpan.FromHours(12),
            });
            return Results.Redirect(returnUrl);
        });
        return app;
    }

    // Only back into the dashboard: the form must not become an open redirect.
    private static string SafeReturnUrl(string? returnUrl) =>
        returnUrl is not null && returnUrl.StartsWith("/dashboard", StringComparison.Ordinal) && !returnUrl.StartsWith("//", StringComparison.Ordinal)
            ? returnUrl
            : "/dashboard/sessions";

    private static IResult LoginPage(HttpContext context, IAntiforgery antiforgery, string returnUrl, string? error, int statusCode = StatusCodes.Status200OK)
    {
        // Sets the antiforgery cookie, and X-Frame-Options so that no other site frames the form.
        var tokens = antiforgery.GetAndStoreTokens(context);
        var page = $$"""
            <!doctype html><html><head><meta charset="utf-8"><title>Session cache dashboard</title>
            <style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;margin:.5rem 0}button{font:inherit;padding:.4rem 1rem}.error{color:#b00}</style>
            </head><body><h1>Session cache dashboard</h1>
            <p>Enter the cluster's API key (<code>SessionCache:ApiKey</code>).</p>
            {{(error is null ? "" : $"<p class=\"error\" id=\"failed\">{WebUtility.HtmlEncode(error)}</p>")}}
            <form method="post" action="{{LoginPath}}"><input type="password" name="key" id="key" autofocus autocomplete="current-password">
            <input type="hidden" name="returnUrl" value="{{WebUtility.HtmlEncode(returnUrl)}}">
            <input type="hidden" name="{{WebUtility.HtmlEncode(tokens.FormFieldName)}}" value="{{WebUtility.HtmlEncode(tokens.RequestToken)}}">
            <button type="submit" id="sign-in">Open the dashboard</button></form>
            </body></html>
            """;
        return Results.Content(page, "text/html; charset=utf-8", statusCode: statusCode);
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "The dashboard could not read the cluster's statistics: {Exception}")]
    private static partial void LogStatsFailed(ILogger logger, string exception);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "A dashboard sign-in was refused: not the key")]
    private static partial void LogLoginRefused(ILogger logger);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "A dashboard sign-in was refused: no valid antiforgery token (an expired form, or a post from another site)")]
    private static partial void LogLoginWithoutAntiforgery(ILogger logger);
}
