using System.Net;

namespace SessionCache.Cluster.Tests;

/// <summary>What the invalidation endpoint answers to everything a caller can get wrong.</summary>
[Collection(LocalJwtClusterCollection.Name)]
public sealed class InvalidateEndpointTests(LocalJwtCluster cluster)
{
    [Theory]
    [InlineData(null)]
    [InlineData("wrong-key")]
    public async Task WithoutTheRightKeyTheAnswerIs401(string? key)
    {
        using var response = await Json.PostInvalidateAsync(cluster.Fronts[0], """{"userId":"user-x"}""", key);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("SessionCache:ApiKey", (await Json.ReadObjectAsync(response))["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{not json", "not JSON")]
    [InlineData("", "not JSON")]
    [InlineData("[]", "JSON array")]
    [InlineData("\"userId\"", "JSON string")]
    [InlineData("""{"unknown":1}""", "Nothing to invalidate")]
    [InlineData("{}", "deleteSession returned nothing")]
    [InlineData("""{"userId":""}""", "\"userId\" must be a non-empty string")]
    [InlineData("""{"userId":42}""", "\"userId\" must be a non-empty string")]
    [InlineData("""{"sessionToken":null}""", "\"sessionToken\" must be a non-empty string")]
    [InlineData("""{"token":{"name":"no sub"}}""", "\"sub\"")]
    [InlineData("""{"token":"abc"}""", "\"sub\"")]
    [InlineData("""{"session":{"userId":"u"}}""", "\"sessionToken\"")]
    public async Task BadBodiesAreRefusedWithWhatWasExpected(string body, string message)
    {
        using var response = await Json.PostInvalidateAsync(cluster.Fronts[1], body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = (await Json.ReadObjectAsync(response))["message"]!.GetValue<string>();
        Assert.Contains(message, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OversizedInputIsRefused()
    {
        using var longUser = await Json.PostInvalidateAsync(cluster.Fronts[0], $$"""{"userId":"{{new string('u', 257)}}"}""");
        Assert.Equal(HttpStatusCode.BadRequest, longUser.StatusCode);
        Assert.Contains("at most 256", (await Json.ReadObjectAsync(longUser))["message"]!.GetValue<string>(), StringComparison.Ordinal);

        using var hugeBody = await Json.PostInvalidateAsync(cluster.Fronts[0], $$"""{"userId":"u","padding":"{{new string('p', 70_000)}}"}""");
        Assert.Equal(HttpStatusCode.BadRequest, hugeBody.StatusCode);
    }

    [Theory]
    [InlineData("""{"userId":"user-never-seen"}""", 1, 0)]
    [InlineData("""{"sessionToken":"never-a-token"}""", 0, 1)]
    [InlineData("""{"token":{"sub":"user-never-seen","name":"n","extra":{"a":[1,2]}},"somethingElse":true}""", 1, 0)]
    [InlineData("""{"session":{"sessionToken":"never-a-token","userId":"u","expires":"2030-01-01T00:00:00.000Z"}}""", 0, 1)]
    public async Task UnknownUsersAndTokensSucceedAndRepeatingIsHarmless(string body, int users, int sessions)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            using var response = await Json.PostInvalidateAsync(cluster.Fronts[2], body);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var invalidated = (await Json.ReadObjectAsync(response))["invalidated"]!;
            Assert.Equal(users, invalidated["users"]!.GetValue<int>());
            Assert.Equal(sessions, invalidated["sessions"]!.GetValue<int>());
        }
    }
}
