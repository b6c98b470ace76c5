using Microsoft.Extensions.Configuration;
using SessionCache.Client;

namespace SessionCache.Cluster.Tests;

/// <summary>A client's and a silo's settings checked at start: each mistake named by its key, with what would be right.</summary>
[Trait("Category", "Unit")]
public sealed class ClientOptionsValidationTests
{
    [Theory]
    [InlineData("NearCache:Lease", "00:00:00.500", "SessionCache:NearCache:Lease must be between 00:00:01 and 00:10:00")]
    [InlineData("NearCache:RenewEvery", "00:00:03", "SessionCache:NearCache:RenewEvery must be positive and at most a third of NearCache:Lease")]
    [InlineData("NearCache:MaxEntries", "-1", "SessionCache:NearCache:MaxEntries must not be negative")]
    [InlineData("MaxCookieHeaderLength", "100", "SessionCache:MaxCookieHeaderLength must be between 256 and 1048576")]
    [InlineData("CookieNames:0", "bad name", "SessionCache:CookieNames contains 'bad name'")]
    public void AClientSettingOutOfRangeIsNamed(string key, string value, string expected)
    {
        var options = Bind<SessionCacheClientOptions>("SessionCache", key, value);

        var result = new SessionCacheClientOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Membership", "Redis", "Cluster:Membership=Redis needs Cluster:ConnectionString")]
    [InlineData("SiloPort", "30000", "Cluster:SiloPort and Cluster:GatewayPort must be distinct ports")]
    [InlineData("Gateways:0", "no-port", "Cluster:Gateways contains 'no-port'; expected host:port")]
    [InlineData("ClusterId", "", "Cluster:ClusterId and Cluster:ServiceId must not be empty")]
    [InlineData("StartupTimeout", "-00:00:01", "Cluster:StartupTimeout must not be negative")]
    public void AClusterSettingOutOfRangeIsNamed(string key, string value, string expected)
    {
        var options = Bind<SessionCacheClusterOptions>("Cluster", key, value);

        var result = new SessionCacheClusterOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDefaultsPass()
    {
        Assert.True(new SessionCacheClientOptionsValidator().Validate(null, new SessionCacheClientOptions()).Succeeded);
        Assert.True(new SessionCacheClusterOptionsValidator().Validate(null, new SessionCacheClusterOptions()).Succeeded);
    }

    private static T Bind<T>(string section, string key, string value)
        where T : new()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"{section}:{key}"] = value }).Build();
        return configuration.GetSection(section).Get<T>() ?? new T();
    }
}
