namespace SessionCache.AuthJs.Tests;

/// <summary>The tests that share one real Auth.js server (xunit finds collection definitions in the test assembly only).</summary>
[CollectionDefinition(Name)]
public sealed class AuthJsCollection : ICollectionFixture<AuthJsServer>
{
    public const string Name = "Real Auth.js";
}
