namespace SessionCache.AuthJs.Tests;

/// <summary>Runs last in its collection's order of declaration; reads what every resolver of the suite logged.</summary>
[Collection(AuthJsCollection.Name)]
public sealed class LogSafetyTests(AuthJsServer authJs)
{
    [Fact]
    public async Task BadInputNeverPutsTokensSecretsOrEmailsInTheLogs()
    {
        var resolver = Resolvers.Jwt();
        var token = await authJs.MintAsync(new { name = "secretive", email = "secretive@example.test" }, "wrong-secret-for-the-log-test-0123456789");
        var expired = await authJs.MintAsync(new { email = "expired@example.test" }, AuthJsServer.Secret2, maxAge: -60);
        var parts = expired.Split('.');
        parts[3] = "AAAA" + parts[3][4..];
        var tampered = string.Join('.', parts);
        var inputs = new[]
        {
            $"authjs.session-token={token}",
            $"authjs.session-token={expired}",
            $"authjs.session-token={tampered}",
            $"authjs.session-token={token}; pad={new string('x', 20_000)}",
            "authjs.session-token=garbage-cookie-value-1234",
            $"next-auth.session-token={token}",
        };

        foreach (var input in inputs)
        {
            var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader(input, "Bearer " + token));
            Assert.NotEqual(SessionLookupStatus.Session, result.Status);
        }

        var logs = string.Join('\n', Resolvers.Logs);
        Assert.NotEmpty(Resolvers.Logs);
        string[] forbidden =
        [
            token, expired, tampered, token[..40], expired[^30..], "garbage-cookie-value-1234",
            AuthJsServer.Secret0, AuthJsServer.Secret1, AuthJsServer.Secret2, AuthJsServer.NextAuthSecret,
            "secretive@example.test", "expired@example.test", "@example.test",
        ];
        foreach (var value in forbidden)
        {
            Assert.DoesNotContain(value, logs, StringComparison.Ordinal);
        }
    }
}
