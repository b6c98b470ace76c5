namespace SessionCache.AuthJs;

/// <summary>Sizes the cluster refuses, so that no caller can make it hold or forward unbounded input.</summary>
public static class SessionCacheLimits
{
    /// <summary>The longest user id accepted (characters). Auth.js ids are UUIDs or provider ids, far shorter.</summary>
    public const int MaxUserIdLength = 256;

    /// <summary>
    /// The longest session token accepted by <see cref="ISessionCache.InvalidateSessionAsync"/>
    /// (characters): the default <c>MaxCookieHeaderLength</c>.
    /// </summary>
    public const int MaxTokenLength = 16 * 1024;
}
