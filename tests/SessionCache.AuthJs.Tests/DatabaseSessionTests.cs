using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace SessionCache.AuthJs.Tests;

/// <summary>Local mode, database strategy, against real PostgreSQL and sessions made by @auth/pg-adapter.</summary>
[Collection(AuthJsCollection.Name)]
public sealed class DatabaseSessionTests(AuthJsServer authJs)
{
    private readonly ISessionResolver _resolver = Resolvers.Build(new()
    {
        ["SessionCache:Mode"] = "Local",
        ["SessionCache:Strategy"] = "Database",
        ["SessionCache:ConnectionString"] = AuthJsServer.DatabaseConnectionString,
    }).GetRequiredService<ISessionResolver>();

    [Fact]
    public async Task DatabaseSessionMatchesTheAuthJsEndpoint()
    {
        var (userId, token) = await authJs.CreateDatabaseSessionAsync("vera", expiresInSeconds: (30 * 24 * 3600) - 60);
        var header = $"authjs.session-token={token}";

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader(header));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        Assert.Equal(userId, result.UserId);
        var expected = await authJs.SessionEndpointAsync("db/auth", header);
        Assert.NotNull(expected);
        Assert.Equal(expected.ToJsonString(), System.Text.Json.Nodes.JsonNode.Parse(result.Session!.ToString())!.ToJsonString());
        Assert.Equal(result.Session.Expires, result.ValidUntil);
    }

    [Fact]
    public async Task ExpiredDatabaseSessionIsExpiredAndDeleted()
    {
        var (_, token) = await authJs.CreateDatabaseSessionAsync("walt", expiresInSeconds: -60);

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader($"authjs.session-token={token}"));

        Assert.Equal(SessionLookupStatus.Expired, result.Status);
        Assert.Equal(0, await CountSessionsAsync(token));
        Assert.Null(await authJs.SessionEndpointAsync("db/auth", $"authjs.session-token={token}"));
    }

    [Fact]
    public async Task SessionDueForUpdateIsExtendedAsAuthJsDoes()
    {
        // Expires in 2 days: more than updateAge (1 day) has passed since it was last set to 30 days.
        var (_, token) = await authJs.CreateDatabaseSessionAsync("xena", expiresInSeconds: 2 * 24 * 3600);

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader($"authjs.session-token={token}"));

        Assert.Equal(SessionLookupStatus.Session, result.Status);
        await using var connection = new NpgsqlConnection(AuthJsServer.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""select expires from sessions where "sessionToken" = $1""", connection) { Parameters = { new() { Value = token } } };
        var expires = (DateTime)(await command.ExecuteScalarAsync())!;
        Assert.InRange(expires, DateTime.UtcNow.AddDays(29), DateTime.UtcNow.AddDays(31));
    }

    [Fact]
    public async Task SessionWhoseUserIsGoneHasNoSession()
    {
        var (userId, token) = await authJs.CreateDatabaseSessionAsync("yuri", expiresInSeconds: 3600);
        await authJs.DeleteDatabaseUserAsync(userId);

        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader($"authjs.session-token={token}"));

        Assert.Equal(SessionLookupStatus.NoSession, result.Status);
        Assert.Null(await authJs.SessionEndpointAsync("db/auth", $"authjs.session-token={token}"));
    }

    [Fact]
    public async Task UnknownSessionTokenHasNoSession()
    {
        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader($"authjs.session-token={Guid.NewGuid()}"));

        Assert.Equal(SessionLookupStatus.NoSession, result.Status);
    }

    [Fact]
    public async Task UnreachableDatabaseIsAnUpstreamErrorNotNoSession()
    {
        var resolver = Resolvers.Build(new()
        {
            ["SessionCache:Mode"] = "Local",
            ["SessionCache:Strategy"] = "Database",
            ["SessionCache:ConnectionString"] = $"Host=127.0.0.1;Port={ProxySessionTests.UnusedPort()};Username=postgres;Timeout=2",
        }).GetRequiredService<ISessionResolver>();

        var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader($"authjs.session-token={Guid.NewGuid()}"));

        Assert.Equal(SessionLookupStatus.UpstreamError, result.Status);
        Assert.True(result.IsRetryable);
        await Assert.ThrowsAsync<SessionUnavailableException>(async () => await resolver.GetServerSessionAsync($"authjs.session-token={Guid.NewGuid()}"));
    }

    private static async Task<long> CountSessionsAsync(string token)
    {
        await using var connection = new NpgsqlConnection(AuthJsServer.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""select count(*) from sessions where "sessionToken" = $1""", connection) { Parameters = { new() { Value = token } } };
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
