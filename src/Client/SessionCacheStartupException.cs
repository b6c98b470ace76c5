namespace SessionCache.Client;

/// <summary>
/// Thrown while a silo or client starts when something it cannot run without is unreachable or
/// unusable (Redis for membership, the session database), so that it stops instead of starting
/// half-configured. The message names the setting to check; it never contains a password.
/// </summary>
public sealed class SessionCacheStartupException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What is wrong and which setting to check.</param>
    public SessionCacheStartupException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    /// <param name="message">What is wrong and which setting to check.</param>
    /// <param name="innerException">The cause.</param>
    public SessionCacheStartupException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception.</summary>
    public SessionCacheStartupException()
    {
    }
}
