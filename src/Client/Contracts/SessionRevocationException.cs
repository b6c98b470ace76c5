namespace SessionCache.Contracts;

/// <summary>
/// A session could not be revoked because resolving it, to learn its user, failed upstream. The
/// caller must retry: a revocation is never silently dropped.
/// </summary>
[GenerateSerializer]
internal sealed class SessionRevocationException : Exception
{
    public SessionRevocationException()
    {
    }

    public SessionRevocationException(string message)
        : base(message)
    {
    }

    public SessionRevocationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
