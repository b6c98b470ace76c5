namespace SessionCache.AuthJs.Internals;

/// <summary>One way of resolving sessions: JWT, database, or upstream.</summary>
internal interface ISessionSource
{
    ValueTask<SessionLookupResult> ResolveAsync(SessionRequest request, CancellationToken cancellationToken);
}
