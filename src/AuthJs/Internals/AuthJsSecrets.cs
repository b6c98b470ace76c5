using Microsoft.Extensions.Configuration;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// The secrets, read and ordered as Auth.js reads them: <c>AUTH_SECRET</c> first, then each of
/// <c>AUTH_SECRET_1..3</c> put in front, so the list is <c>[_3, _2, _1, AUTH_SECRET]</c> and the
/// first one encrypts. NextAuth.js v4 uses <c>NEXTAUTH_SECRET</c>, falling back to <c>AUTH_SECRET</c>.
/// </summary>
internal sealed class AuthJsSecrets
{
    public AuthJsSecrets(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var configured = configuration.GetSection(SessionCacheOptions.SectionName + ":" + nameof(SessionCacheOptions.Secrets))
            .GetChildren()
            .OrderBy(static s => int.TryParse(s.Key, out var i) ? i : int.MaxValue)
            .Select(static s => s.Value)
            .Where(static s => !string.IsNullOrEmpty(s))
            .Select(static s => s!)
            .ToList();

        var authSecret = NonEmpty(configuration["AUTH_SECRET"]);
        var nextAuthSecret = NonEmpty(configuration["NEXTAUTH_SECRET"]);
        if (configured.Count > 0)
        {
            ForAuthJs = configured;
            ForNextAuthV4 = configured[0];
            return;
        }

        var ordered = new List<string>();
        if (authSecret is not null)
        {
            ordered.Add(authSecret);
        }

        foreach (var i in new[] { 1, 2, 3 })
        {
            if (NonEmpty(configuration[$"AUTH_SECRET_{i}"]) is { } rotated)
            {
                ordered.Insert(0, rotated);
            }
        }

        // next-auth v5 still honours the v4 variable when AUTH_SECRET is not set.
        if (ordered.Count == 0 && nextAuthSecret is not null)
        {
            ordered.Add(nextAuthSecret);
        }

        ForAuthJs = ordered;
        ForNextAuthV4 = nextAuthSecret ?? authSecret;
    }

    /// <summary>Test and benchmark constructor.</summary>
    public AuthJsSecrets(IReadOnlyList<string> authJs, string? nextAuthV4)
    {
        ForAuthJs = authJs;
        ForNextAuthV4 = nextAuthV4;
    }

    /// <summary>Secrets for Auth.js v5 tokens, in Auth.js' order; the first encrypts.</summary>
    public IReadOnlyList<string> ForAuthJs { get; }

    /// <summary>The secret for NextAuth.js v4 tokens, if any.</summary>
    public string? ForNextAuthV4 { get; }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
