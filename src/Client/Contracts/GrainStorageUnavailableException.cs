namespace SessionCache.Contracts;

/// <summary>
/// A user's record could not be written to grain storage (Redis down, say), so a sign-out could
/// not be made durable and is not reported as done. It names the storage's own exception instead of
/// carrying it: a client has no storage provider's assembly to rebuild that exception from.
/// </summary>
[GenerateSerializer]
internal sealed class GrainStorageUnavailableException : Exception
{
    public GrainStorageUnavailableException()
    {
    }

    public GrainStorageUnavailableException(string message)
        : base(message)
    {
    }

    public GrainStorageUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
