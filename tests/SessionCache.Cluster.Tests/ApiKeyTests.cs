using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using SessionCache.AspNetCore;
using SessionCache.AuthJs;

namespace SessionCache.Cluster.Tests;

/// <summary>The one API key check: what it accepts, and that the endpoints cannot be mapped without the options it reads.</summary>
[Trait("Category", "Unit")]
public sealed class ApiKeyTests
{
    [Theory]
    [InlineData("the-key", "the-key", true)]
    [InlineData("clé-ünïcode-🔑", "clé-ünïcode-🔑", true)]
    [InlineData("the-kez", "the-key", false)]
    [InlineData("the-key-and-more", "the-key", false)]
    [InlineData("the-", "the-key", false)]
    [InlineData("THE-KEY", "the-key", false)]
    [InlineData("", "the-key", false)]
    [InlineData(null, "the-key", false)]
    [InlineData("", "", false)]
    [InlineData(null, null, false)]
    public void TheKeyMatchesOnlyItselfAndNoKeyMatchesNothing(string? presented, string? expected, bool matches)
    {
        Assert.Equal(matches, ApiKey.Matches(presented, expected));
    }

    [Fact]
    public async Task MappingTheApiWithoutSessionCacheOptionsFailsAtStartNamingTheFix()
    {
        // A key in configuration that nothing binds would leave the endpoints refusing every call.
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration["SessionCache:ApiKey"] = "configured-but-never-bound";
        await using var app = builder.Build();

        var error = Assert.Throws<InvalidOperationException>(() => app.MapSessionCacheApi());

        Assert.Contains("SessionCache:ApiKey", error.Message, StringComparison.Ordinal);
        Assert.Contains("AddAuthJsSessionResolution", error.Message, StringComparison.Ordinal);
        Assert.Contains("Configure<SessionCacheOptions>", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MappingTheApiWithTheKeySetInCodeSucceeds()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.Configure<SessionCacheOptions>(static options => options.ApiKey = "set-in-code");
        await using var app = builder.Build();

        app.MapSessionCacheApi();

        Assert.Contains(((IEndpointRouteBuilder)app).DataSources.SelectMany(static s => s.Endpoints), static e => e.DisplayName?.Contains(SessionCacheEndpoints.InvalidatePath, StringComparison.Ordinal) == true);
    }
}
