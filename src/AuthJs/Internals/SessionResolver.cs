using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// The registered <see cref="ISessionResolver"/>: picks the configured source once, and stands in
/// the ambient request for <see cref="SessionRequest.Current"/>.
/// </summary>
internal sealed partial class SessionResolver(IServiceProvider services, IOptions<SessionCacheOptions> options, IHttpContextAccessor? httpContextAccessor = null, ILogger<SessionResolver>? logger = null) : ISessionResolver
{
    internal const string NotConfiguredMessage =
        "No Auth.js session resolution mode is configured. Either resolve sessions locally: set " +
        "SessionCache:Mode=Local and AUTH_SECRET (JWT sessions, the Auth.js default), or SessionCache:Strategy=Database " +
        "and SessionCache:ConnectionString (database sessions); or ask the Auth.js server: set SessionCache:Mode=Proxy " +
        "and SessionCache:Upstream to the base URL of its routes, e.g. https://app.example.com/api/auth.";

    private readonly Lazy<ISessionSource?> _source = new(() => options.Value switch
    {
        { Mode: SessionResolutionMode.Local, Strategy: SessionStrategy.Jwt } => services.GetRequiredService<JwtSessionSource>(),
        { Mode: SessionResolutionMode.Local, Strategy: SessionStrategy.Database } => services.GetRequiredService<DatabaseSessionSource>(),
        { Mode: SessionResolutionMode.Proxy } => services.GetRequiredService<ProxySessionSource>(),
        _ => null,
    });

    /// <summary>
    /// What a sign-out of a user does beyond the cluster: in local database mode with
    /// <see cref="DatabaseSessionOptions.DeleteOnSignOut"/>, deletes the user's session rows.
    /// </summary>
    /// <exception cref="SessionStoreException">The rows could not be deleted.</exception>
    public async Task EndUserSessionsAsync(string userId, CancellationToken cancellationToken)
    {
        if (options.Value is { Mode: SessionResolutionMode.Local, Strategy: SessionStrategy.Database, Database.DeleteOnSignOut: true })
        {
            await services.GetRequiredService<DatabaseSessionSource>().DeleteUserSessionsAsync(userId, cancellationToken);
        }
    }

    public UpstreamErrorBehavior UpstreamErrors => options.Value.UpstreamErrors;

    public ValueTask<SessionLookupResult> LookupAsync(SessionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var source = _source.Value ?? throw new InvalidOperationException(NotConfiguredMessage);
        if (ReferenceEquals(request, SessionRequest.Current))
        {
            if (httpContextAccessor?.HttpContext?.Request is not { } current)
            {
                return ValueTask.FromResult(SessionLookupResult.NoSession);
            }

            request = SessionRequest.FromHttpRequest(current);
        }

        // One limit for every source: longer headers never reach a parser, a database or the upstream.
        var limit = options.Value.MaxCookieHeaderLength;
        if (request.CookieHeader is { } header && header.Length > limit)
        {
            LogCookieHeaderTooLarge(logger ?? (ILogger)NullLogger.Instance, header.Length, limit);
            return ValueTask.FromResult(SessionLookupResult.Invalid("cookie header too large"));
        }

        return source.ResolveAsync(request, cancellationToken);
    }

    [LoggerMessage(EventId = 1003, Level = LogLevel.Debug, Message = "Cookie header of {Length} bytes exceeds the limit of {Limit}; treated as invalid")]
    private static partial void LogCookieHeaderTooLarge(ILogger logger, int length, int limit);
}
