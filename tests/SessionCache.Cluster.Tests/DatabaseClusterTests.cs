using SessionCache.AuthJs;

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

        // SessionCache:Database:DeleteOnSignOut (default on) deleted the row: resolved again, there is no session at all.
        Assert.Equal(SessionLookupStatus.NoSession, (await cluster.SiloCaches[1].LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
    }

    [Fact]
    public async Task SigningTheUserOutDeletesTheirRowsSoAuthJsRefusesThemToo()
    {
        var (userId, seen) = await AuthJs.CreateDatabaseSessionAsync("db-delete", expiresInSeconds: 3600);
        var cookie = "authjs.session-token=" + seen;
        Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.NotNull(a.SessionJson));
        var (otherUser, otherToken) = await AuthJs.CreateDatabaseSessionAsync("db-delete-other", expiresInSeconds: 3600);

        // A second session of the same user that the cluster never saw (another device).
        var unseen = await AuthJs.CreateDatabaseSessionForUserAsync(userId, expiresInSeconds: 3600);
        Assert.NotNull(await AuthJs.SessionEndpointAsync("/db/auth", "authjs.session-token=" + unseen));

        await cluster.ClientCache.InvalidateUserAsync(userId);

        Assert.Null(await AuthJs.SessionEndpointAsync("/db/auth", cookie));
        Assert.Null(await AuthJs.SessionEndpointAsync("/db/auth", "authjs.session-token=" + unseen));
        Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.Null(a.SessionJson));
        Assert.NotNull(await AuthJs.SessionEndpointAsync("/db/auth", "authjs.session-token=" + otherToken));

        // Idempotent, and an id the column cannot hold (text for an integer) deletes nothing and fails nothing.
        await cluster.ClientCache.InvalidateUserAsync(userId);
        await cluster.ClientCache.InvalidateUserAsync("not-a-number");
        Assert.NotNull(await AuthJs.SessionEndpointAsync("/db/auth", "authjs.session-token=" + otherToken));
        Assert.NotEqual(userId, otherUser);
    }

    [Fact]
    public async Task TheSessionEndpointResetsTheCookiesExpiryAsAuthJsDoes()
    {
        var (_, token) = await AuthJs.CreateDatabaseSessionAsync("db-cookie", expiresInSeconds: 3600);
        var cookie = "authjs.session-token=" + token;
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/auth/session");
        request.Headers.TryAddWithoutValidation("Cookie", cookie);
        using var response = await cluster.Fronts[0].SendAsync(request);
        var ours = Assert.Single(response.Headers.GetValues("Set-Cookie"));
        var (_, authJsCookies) = await AuthJs.SessionEndpointWithCookiesAsync("/db/auth", cookie);
        var theirs = Assert.Single(authJsCookies, static c => c.StartsWith("authjs.session-token=", StringComparison.Ordinal));

        // The same token, the same attributes, an expiry of now + maxAge (to the second, give or take the calls between).
        Assert.Equal(theirs.Split("; Expires=")[0], ours.Split("; Expires=")[0]);
        Assert.Equal(theirs.Split("; Expires=")[1][29..], ours.Split("; Expires=")[1][29..]);
        var expires = DateTimeOffset.Parse(ours.Split("; Expires=")[1][..29], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(expires, DateTimeOffset.UtcNow.AddDays(30).AddMinutes(-1), DateTimeOffset.UtcNow.AddDays(30).AddMinutes(1));

        // A token with no row: cleared, as Auth.js clears it.
        using var unknown = new HttpRequestMessage(HttpMethod.Get, "api/auth/session");
        unknown.Headers.TryAddWithoutValidation("Cookie", "authjs.session-token=" + Guid.NewGuid());
        using var cleared = await cluster.Fronts[1].SendAsync(unknown);
        Assert.Equal(["authjs.session-token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"], cleared.Headers.GetValues("Set-Cookie"));
    }

    [Fact]
    public async Task ASignOutWhoseRowsCannotBeDeletedFailsRetryablyAndSucceedsWhenRetried()
    {
        var (userId, token) = await AuthJs.CreateDatabaseSessionAsync("db-delete-fails", expiresInSeconds: 3600);
        var cookie = "authjs.session-token=" + token;
        Assert.All(await cluster.LookUpEverywhereAsync(cookie), static a => Assert.NotNull(a.SessionJson));

        // The database refuses the delete: the table is gone for a moment.
        await ExecuteAsync("ALTER TABLE sessions RENAME TO sessions_away");
        try
        {
            var failure = await Assert.ThrowsAsync<SessionUnavailableException>(async () => await cluster.ClientCache.InvalidateUserAsync(userId));
            Assert.True(failure.IsRetryable);
            Assert.Contains("could not be deleted from the session database", failure.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(userId, failure.Message, StringComparison.Ordinal);

            // The cluster never serves the session again: the sign-out was recorded and published
            // before the delete (resolving it again meets the missing table: unavailable, not "no session").
            foreach (var cache in cluster.SiloCaches.Append(cluster.ClientCache))
            {
                Assert.NotEqual(SessionLookupStatus.Session, (await cache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
            }
        }
        finally
        {
            await ExecuteAsync("ALTER TABLE sessions_away RENAME TO sessions");
        }

        Assert.NotNull(await AuthJs.SessionEndpointAsync("/db/auth", cookie));
        await cluster.ClientCache.InvalidateUserAsync(userId);
        Assert.Null(await AuthJs.SessionEndpointAsync("/db/auth", cookie));
    }

    private static async Task ExecuteAsync(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(AuthJsServer.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
