using SessionCache.AuthJs.Internals;

namespace SessionCache.AuthJs.Tests;

[Trait("Category", "Unit")]
public sealed class CookieReaderTests
{
    [Fact]
    public async Task RandomCookieHeadersNeverThrow()
    {
        var resolver = Resolvers.Jwt();
        var random = new Random(20261123);
        const string Alphabet = "=; \t.%abcAB019authjs.session-token-_~\"\u00e9";
        for (var i = 0; i < 20_000; i++)
        {
            var chars = new char[random.Next(0, 40)];
            for (var j = 0; j < chars.Length; j++)
            {
                chars[j] = Alphabet[random.Next(Alphabet.Length)];
            }

            var header = random.Next(3) == 0 ? "authjs.session-token" + new string(chars) : new string(chars);
            var result = await resolver.LookupAsync(SessionRequest.FromCookieHeader(header, new string(chars)));
            Assert.NotEqual(SessionLookupStatus.Session, result.Status);
        }
    }

    [Theory]
    [InlineData("a=1; b=2", "a", "1")]
    [InlineData("a=1; a=2", "a", "1")]
    [InlineData("  a = 1 ;b=2", "a", "1")]
    [InlineData("a=%E2%9C%93", "a", "\u2713")]
    [InlineData("a=%E0%A4%A", "a", "%E0%A4%A")]
    [InlineData("a=", "a", "")]
    [InlineData("junk; a=1", "a", "1")]
    public void HeaderIsParsedAsAuthJsParsesIt(string header, string name, string value)
    {
        var cookies = CookieReader.Parse(header);

        Assert.Equal(value, cookies.First(c => c.Key == name).Value);
    }

    [Fact]
    public void ChunksAreJoinedByNumberNotByName()
    {
        var header = "authjs.session-token.10=K; authjs.session-token.2=C; authjs.session-token.0=A; authjs.session-token.1=B";

        Assert.Equal("ABCK", CookieReader.ReadSessionToken(SessionRequest.FromCookieHeader(header), "authjs.session-token"));
    }
}
