using Microsoft.Extensions.Options;

namespace SessionCache.Client;

/// <summary>
/// How a process (a silo, or a service using the client) talks to the session grains: the
/// <c>SessionCache</c> section, shared with the silo's resolution settings.
/// </summary>
public sealed class SessionCacheClientOptions
{
    /// <summary>The configuration section: <c>SessionCache</c>.</summary>
    public const string SectionName = "SessionCache";

    /// <summary>
    /// Session cookie names besides Auth.js' and NextAuth.js' standard ones (with and without
    /// <c>__Secure-</c>). Needed only when the Auth.js app renames its session cookie.
    /// </summary>
    public IList<string> CookieNames { get; } = [];

    /// <summary>Cookie headers longer than this are refused as invalid before anything else. Default 16 KiB.</summary>
    public int MaxCookieHeaderLength { get; set; } = 16 * 1024;

    /// <summary>
    /// <c>SessionCache:ReportMetrics</c>: whether this process sends its counts (lookups, hits,
    /// latency) to the cluster each second, for the dashboard and <c>sessioncache status</c>.
    /// Default <see langword="true"/>. The <c>SessionCache</c> meter counts either way.
    /// </summary>
    public bool ReportMetrics { get; set; } = true;

    /// <summary>
    /// <c>SessionCache:UpstreamErrors</c>: what <c>GetServerSessionAsync</c> and <c>GetTokenAsync</c>
    /// do when the session could not be resolved (the cluster, the upstream or the database failed):
    /// throw <see cref="AuthJs.SessionUnavailableException"/> (default) or answer <see langword="null"/>.
    /// </summary>
    public AuthJs.UpstreamErrorBehavior UpstreamErrors { get; set; }

    /// <summary>The per-process near cache.</summary>
    public NearCacheOptions NearCache { get; set; } = new();

    /// <summary>
    /// Set in silos: their session grains serve cached sessions only while the silo holds a lease
    /// from a relay, so the silo subscribes even with the near cache off.
    /// </summary>
    internal bool SubscribeWithoutNearCache { get; set; }
}

/// <summary>The per-process near cache in front of the session grains.</summary>
public sealed class NearCacheOptions
{
    /// <summary>Whether hits are served from this process' memory. Default <see langword="true"/>.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Most entries kept; beyond, lookups go to the grains. Default 100,000.</summary>
    public int MaxEntries { get; set; } = 100_000;

    /// <summary>
    /// How long the near cache (and, in a silo, its session grains) keeps serving after the last
    /// confirmed subscription to its silo relay. This bounds how long a process that cannot be told
    /// of a sign-out (cut off, paused, or subscribed through a silo that died) may serve a revoked
    /// session; a sign-out that cannot reach a process waits at most this long for it. In a silo it
    /// is the lease the silo's relay grants. Default 6 s: a silo's death delays the sign-outs
    /// after it by at most that, and 1,000 processes renewing every 2 s cost the cluster 500 small
    /// calls a second (docs/design.md, "Sign-out fan-out").
    /// </summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>How often the subscription is renewed; at most a third of <see cref="Lease"/>. Default 2 s.</summary>
    public TimeSpan RenewEvery { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>Checks <see cref="SessionCacheClientOptions"/> at start.</summary>
internal sealed class SessionCacheClientOptionsValidator : IValidateOptions<SessionCacheClientOptions>
{
    public ValidateOptionsResult Validate(string? name, SessionCacheClientOptions options)
    {
        var failures = new List<string>();
        // The resolution options bind the same key with the same rule (SessionCacheOptionsValidator).
        if (options.MaxCookieHeaderLength is < 256 or > 1024 * 1024)
        {
            failures.Add($"SessionCache:{nameof(options.MaxCookieHeaderLength)} must be between 256 and 1048576 (bytes); got {options.MaxCookieHeaderLength}.");
        }

        foreach (var cookieName in options.CookieNames)
        {
            if (string.IsNullOrWhiteSpace(cookieName) || cookieName.Any(static c => c is ';' or '=' or ',' or ' ' || char.IsControl(c)))
            {
                failures.Add($"SessionCache:{nameof(options.CookieNames)} contains '{cookieName}', which is not a cookie name.");
            }
        }

        if (!Enum.IsDefined(options.UpstreamErrors))
        {
            failures.Add($"SessionCache:{nameof(options.UpstreamErrors)} must be Throw or Null.");
        }

        var near = options.NearCache;
        if (near.MaxEntries < 0)
        {
            failures.Add($"SessionCache:NearCache:{nameof(near.MaxEntries)} must not be negative; got {near.MaxEntries}.");
        }

        if (near.Lease < TimeSpan.FromSeconds(1) || near.Lease > TimeSpan.FromMinutes(10))
        {
            failures.Add($"SessionCache:NearCache:{nameof(near.Lease)} must be between 00:00:01 and 00:10:00; got {near.Lease}.");
        }

        if (near.RenewEvery <= TimeSpan.Zero || near.RenewEvery * 3 > near.Lease)
        {
            failures.Add($"SessionCache:NearCache:{nameof(near.RenewEvery)} must be positive and at most a third of NearCache:Lease ({near.Lease}); got {near.RenewEvery}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
