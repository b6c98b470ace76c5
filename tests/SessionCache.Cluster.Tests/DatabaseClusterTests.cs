using SessionCache.AuthJs;
using SessionCache.AuthJs.Tests;

namespace SessionCache.Cluster.Tests;

/// <summary>Local database mode: the cluster reads @auth/pg-adapter's tables in PostgreSQL.</summary>
public sealed class DatabaseCluster : SessionCluster
{
    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Local",
        ["SessionCache:Strategy"] = "Database",
        ["SessionCache:ConnectionString"] = AuthJsServer.DatabaseConnectionString,
    };
}

[CollectionDefinition(Name)]
public sealed class DatabaseClusterCollection : ICollectionFixture<DatabaseCluster>
{
    public const string Name = "Database cluster";
}

[Collection(DatabaseClusterCollection.Name)]
public sealed class DatabaseClusterTests(DatabaseCluster cluster)
{
    private AuthJsServer AuthJs => cluster.AuthJs;

    [Fact]
    public async Task EveryPathAnswersWhatAuthJsAnswersAndTheDatabaseIsReadOnce()
    {
        var (_, token) = await AuthJs.CreateDatabaseSessionAsync("db-paths", expiresInSeconds: 3600);
        var cookie = "authjs.session-token=" + token;
        var before = cluster.Resolutions;
        var answers = await cluster.LookUpEverywhereAsync(cookie);
        Assert.Equal(before + 1, cluster.Resolutions);

        // Auth.js reports the expiry it reads, and the cluster's read extended the row (updateAge).
        var expected = Json.WithoutExpires((await AuthJs.SessionEndpointAsync("/db/auth", cookie))!.ToJsonString());
        foreach (var (path, json) in answers)
        {
            Assert.True(json is not null, $"{path} answered null");
            Assert.Equal(expected, Json.WithoutExpires(json));
        }
    }

    [Fact]
    public async Task SignOutThroughAuthJsEventsEndsTheSessionOnEveryPath()
    {
        await AuthJs.SetSignOutTargetAsync(new Uri(cluster.Fronts[2].BaseAddress!, "api/sessions/invalidate"), SessionCluster.ApiKey);
        try
        {
            var (_, token) = await AuthJs.CreateDatabaseSessionAsync("db-signout", expiresInSeconds: 3600);
            var (_, other) = await AuthJs.CreateDatabaseSessionAsync("db-stays", expiresInSeconds: 3600);
            var cookie = "authjs.session-token=" + token;
            Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.NotNull(a.SessionJson));
            Assert.All(await cluster.LookUpEverywhereAsync("authjs.session-token=" + other), static a => Assert.NotNull(a.SessionJson));

            // Auth.js deletes the row and fires events.signOut with {session}, forwarded to the cluster.
            await AuthJs.SignOutAsync("/db/auth", [new("authjs.session-token", token)]);

            foreach (var (path, json) in await cluster.LookUpEverywhereAsync(cookie))
            {
                Assert.True(json is null, $"{path} still served the signed-out session");
            }

            Assert.All(await cluster.LookUpEverywhereAsync("authjs.session-token=" + other), static a => Assert.NotNull(a.SessionJson));
        }
        finally
        {
            await AuthJs.SetSignOutTargetAsync(null, null);
        }
    }

    [Fact]
    public async Task InvalidatingTheUserEndsEverySessionOfTheUserOnly()
    {
        var (userId, token) = await AuthJs.CreateDatabaseSessionAsync("db-user", expiresInSeconds: 3600);
        var cookie = "authjs.session-token=" + token;
        Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.NotNull(a.SessionJson));

        using var response = await Json.PostInvalidateAsync(cluster.Fronts[0], $$"""{"userId": "{{userId}}"}""");
        response.EnsureSuccessStatusCode();

        Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.Null(a.SessionJson));
        Assert.Equal(SessionLookupStatus.Revoked, (await cluster.SiloCaches[1].LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
    }
}
