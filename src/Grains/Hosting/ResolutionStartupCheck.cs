using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Client;
using SessionCache.Client.Internals;

namespace SessionCache.Hosting;

/// <summary>
/// A silo resolves sessions, so it must know how before it joins: a resolution mode must be
/// configured (validation has checked its settings), and with the database strategy the database
/// must answer the adapter query now rather than on the first user's request.
/// </summary>
internal sealed class ResolutionStartupCheck(IOptions<SessionCacheOptions> options, IServiceProvider services) : IStartupCheck
{
    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        var resolution = options.Value;
        if (resolution.Mode == SessionResolutionMode.None)
        {
            throw new OptionsValidationException(SessionCacheOptions.SectionName, typeof(SessionCacheOptions), [SessionResolver.NotConfiguredMessage]);
        }

        if (resolution is { Mode: SessionResolutionMode.Local, Strategy: SessionStrategy.Database }
            && await services.GetRequiredService<DatabaseSessionSource>().ProblemAsync(cancellationToken) is { } problem)
        {
            throw new SessionCacheStartupException(problem);
        }
    }
}
