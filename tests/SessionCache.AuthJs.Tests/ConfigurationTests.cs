using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SessionCache.AuthJs.Tests;

[Trait("Category", "Unit")]
public sealed class ConfigurationTests
{
    [Fact]
    public async Task LookupWithoutAModeNamesBothWaysToConfigureOne()
    {
        var resolver = Resolvers.Build([]).GetRequiredService<ISessionResolver>();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await resolver.GetServerSessionAsync("authjs.session-token=x"));

        Assert.Contains("SessionCache:Mode=Local", error.Message, StringComparison.Ordinal);
        Assert.Contains("SessionCache:Mode=Proxy", error.Message, StringComparison.Ordinal);
        Assert.Contains("AUTH_SECRET", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Local", null, null, "AUTH_SECRET")]
    [InlineData("Proxy", null, null, "SessionCache:Upstream is not set")]
    [InlineData("Proxy", "http://auth.example.com/api/auth", null, "must use https")]
    [InlineData("Proxy", "ftp://auth.example.com/api/auth", null, "absolute http(s) URL")]
    [InlineData("Local", null, "Database", "SessionCache:ConnectionString is not set")]
    public void IncompleteConfigurationFailsAtStartNamingTheKey(string mode, string? upstream, string? strategy, string expected)
    {
        var settings = new Dictionary<string, string?> { ["SessionCache:Mode"] = mode, ["SessionCache:Upstream"] = upstream, ["SessionCache:Strategy"] = strategy };

        var error = Assert.Throws<OptionsValidationException>(() => Resolvers.Build(settings));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Jwt:SignedInAtClaim", "iat", "SessionCache:Jwt:SignedInAtClaim must name a claim that survives")]
    [InlineData("Jwt:SignedInAtClaim", "jti", "iat, exp, nbf and jti are renewed")]
    [InlineData("Jwt:UpdateAge", "-00:00:01", "SessionCache:Jwt:UpdateAge must be between 00:00:00 and SessionCache:Jwt:SessionMaxAge")]
    [InlineData("Jwt:UpdateAge", "31.00:00:00", "SessionCache:Jwt:UpdateAge must be between")]
    public void SignInTimeAndRenewalSettingsAreCheckedAtStart(string key, string value, string expected)
    {
        var settings = new Dictionary<string, string?> { ["SessionCache:Mode"] = "Local", ["AUTH_SECRET"] = "a-secret-for-the-checks-0123456789", ["SessionCache:" + key] = value };

        var error = Assert.Throws<OptionsValidationException>(() => Resolvers.Build(settings));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("100")]
    [InlineData("2000000")]
    public void TheCookieHeaderLimitHasTheClientsRangeOnASiloToo(string value)
    {
        // One key, one rule: a client's options refuse the same values (ClientOptionsValidationTests).
        var settings = new Dictionary<string, string?> { ["SessionCache:Mode"] = "Local", ["AUTH_SECRET"] = "a-secret-for-the-checks-0123456789", ["SessionCache:MaxCookieHeaderLength"] = value };

        var error = Assert.Throws<OptionsValidationException>(() => Resolvers.Build(settings));

        Assert.Contains($"SessionCache:MaxCookieHeaderLength must be between 256 and 1048576 (bytes); got {value}.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AProxySignInTimeFieldThatChangesOnEveryRequestIsRefusedAtStart()
    {
        var settings = new Dictionary<string, string?> { ["SessionCache:Mode"] = "Proxy", ["SessionCache:Upstream"] = "http://localhost:3000/api/auth", ["SessionCache:Proxy:SignedInAtField"] = "expires" };

        var error = Assert.Throws<OptionsValidationException>(() => Resolvers.Build(settings));

        Assert.Contains("SessionCache:Proxy:SignedInAtField must name the session field", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoopbackUpstreamMayUsePlainHttp()
    {
        using var services = Resolvers.Build(new() { ["SessionCache:Mode"] = "Proxy", ["SessionCache:Upstream"] = "http://localhost:3000/api/auth" });

        Assert.NotNull(services.GetRequiredService<ISessionResolver>());
    }

    [Fact]
    public void SecretsAreOrderedAsAuthJsOrdersThem()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AUTH_SECRET"] = "zero",
            ["AUTH_SECRET_1"] = "one",
            ["AUTH_SECRET_3"] = "three",
        }).Build();

        var secrets = new Internals.AuthJsSecrets(configuration);

        Assert.Equal(["three", "one", "zero"], secrets.ForAuthJs);
        Assert.Equal("zero", secrets.ForNextAuthV4);
    }
}
