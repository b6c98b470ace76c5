namespace SessionCache.AuthJs;

/// <summary>
/// Thrown by <c>GetServerSessionAsync</c> when the session could not be resolved because the
/// upstream Auth.js server, the session database or the cluster failed: the user may well be signed
/// in, so answering "no session" would be wrong. Thrown by the sign-out methods of
/// <see cref="ISessionCache"/> when the sign-out could not be completed; they are idempotent, so the
/// fix is to call them again.
/// </summary>
public sealed class SessionUnavailableException : Exception
{
    /// <summary>Creates the exception from the failed lookup.</summary>
    /// <param name="result">The lookup result with status <see cref="SessionLookupStatus.UpstreamError"/>.</param>
    public SessionUnavailableException(SessionLookupResult result)
        : base($"The session could not be resolved: {result?.Reason}.")
    {
        ArgumentNullException.ThrowIfNull(result);
        IsRetryable = result.IsRetryable;
    }

    /// <summary>Creates the exception with a message.</summary>
    public SessionUnavailableException()
        : base("The session could not be resolved.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public SessionUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public SessionUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception with a message, saying whether trying again may succeed.</summary>
    /// <param name="message">The message.</param>
    /// <param name="isRetryable">Whether trying again later may succeed.</param>
    /// <param name="innerException">The cause, if any.</param>
    public SessionUnavailableException(string message, bool isRetryable, Exception? innerException = null)
        : base(message, innerException)
    {
        IsRetryable = isRetryable;
    }

    /// <summary>Whether trying again later may succeed.</summary>
    public bool IsRetryable { get; }
}
