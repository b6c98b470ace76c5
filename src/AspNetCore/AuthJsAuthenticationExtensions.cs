using Microsoft.AspNetCore.Authentication;

namespace SessionCache.AspNetCore;

/// <summary>Adds the <c>AuthJs</c> authentication scheme.</summary>
public static class AuthJsAuthenticationExtensions
{
    /// <summary>
    /// Authenticates requests by their Auth.js session cookie, through the registered session API
    /// (a co-hosted silo or the client). <c>[Authorize]</c> and <c>RequireAuthorization()</c> then
    /// answer 401 without a session and 503 when sessions cannot be resolved.
    /// </summary>
    /// <param name="builder">The authentication builder.</param>
    /// <param name="authenticationScheme">The scheme name; default <c>AuthJs</c>.</param>
    /// <param name="configure">Options.</param>
    /// <returns>The builder.</returns>
    public static AuthenticationBuilder AddAuthJs(this AuthenticationBuilder builder, string authenticationScheme = AuthJsAuthenticationOptions.DefaultScheme, Action<AuthJsAuthenticationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddScheme<AuthJsAuthenticationOptions, AuthJsAuthenticationHandler>(authenticationScheme, configure);
    }
}
