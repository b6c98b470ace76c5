using System.Text;
using Microsoft.AspNetCore.Http;

namespace SessionCache.Hosting;

/// <summary>
/// Puts a link to this product's charts (<c>/dashboard/sessions</c>) on the Orleans dashboard's
/// page, where operators look first; Orleans' dashboard has no extension point for it.
/// </summary>
internal sealed class OrleansDashboardLinkMiddleware(RequestDelegate next)
{
    // The dashboard's scripts re-render the page body, so the link is (re-)added by a script rather
    // than sent as markup.
    private static readonly byte[] Link = Encoding.UTF8.GetBytes("""
        <script>(function () {
          function add() {
            if (document.getElementById("session-cache-link")) return;
            var a = document.createElement("a");
            a.id = "session-cache-link";
            a.href = "/dashboard/sessions";
            a.textContent = "Session cache charts \u2192";
            a.style.cssText = "position:fixed;right:1rem;bottom:1rem;z-index:10000;background:#2f6fdf;color:#fff !important;padding:.55rem 1rem;" +
              "border-radius:6px;font:600 14px system-ui,sans-serif;text-decoration:none;box-shadow:0 2px 6px #0004";
            document.body.appendChild(a);
          }
          add();
          setInterval(add, 1000);
        })();</script>
        """);

    private static readonly byte[] BodyEnd = "</body>"u8.ToArray();

    public async Task InvokeAsync(HttpContext context)
    {
        if (!HttpMethods.IsGet(context.Request.Method) || context.Request.Path.Value is not ("/dashboard/" or "/dashboard/index.html"))
        {
            await next(context);
            return;
        }

        // The page is small; ask for it uncompressed so that it can be edited on the way out.
        context.Request.Headers.AcceptEncoding = default;
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        var page = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        var end = context.Response.ContentType?.StartsWith("text/html", StringComparison.OrdinalIgnoreCase) == true
            && context.Response.Headers.ContentEncoding.Count == 0
            ? page.Span.LastIndexOf(BodyEnd)
            : -1;
        if (end < 0)
        {
            await original.WriteAsync(page, context.RequestAborted);
            return;
        }

        context.Response.ContentLength = page.Length + Link.Length;
        await original.WriteAsync(page[..end], context.RequestAborted);
        await original.WriteAsync(Link, context.RequestAborted);
        await original.WriteAsync(page[end..], context.RequestAborted);
    }
}
