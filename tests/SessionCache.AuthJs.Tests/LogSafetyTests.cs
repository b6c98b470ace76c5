namespace SessionCache.AuthJs.Tests;

/// <summary>
/// What bad input makes a resolver log: never a token, a secret or an e-mail address. Checks the
/// lines its own lookups wrote, and, for the secrets and the test e-mail domain, every line the
/// suite's resolvers logged so far, wherever xunit puts it in the run.
/// </summary>
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

        var before = Resolvers.Logs.Count;
        foreach (var input in inputs)
        {
            var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader(input, "Bearer " + token));
            Assert.NotEqual(SessionLookupStatus.Session, result.Status);
        }

        // The lines after the mark hold this test's (and perhaps another collection's, running alongside).
        var own = Resolvers.Logs.Skip(before).ToList();
        Assert.NotEmpty(own);
        var ownLogs = string.Join('\n', own);
        foreach (var value in new[] { token, expired, tampered, token[..40], expired[^30..], "garbage-cookie-value-1234", "secretive@example.test", "expired@example.test" })
        {
            Assert.DoesNotContain(value, ownLogs, StringComparison.Ordinal);
        }

        var everything = string.Join('\n', Resolvers.Logs);
        foreach (var value in new[] { AuthJsServer.Secret0, AuthJsServer.Secret1, AuthJsServer.Secret2, AuthJsServer.NextAuthSecret, "@example.test" })
        {
            Assert.DoesNotContain(value, everything, StringComparison.Ordinal);
        }
    }
}
