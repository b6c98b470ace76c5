using SessionCache.AuthJs.Internals;

namespace SessionCache.AuthJs.Tests;

/// <summary>Which part of a request keys its session grain, and that every way of presenting one token keys the same one.</summary>
[Trait("Category", "Unit")]
public sealed class SessionKeysTests
{
    private static readonly SessionKeys Keys = new(["app.session"], maxCookieHeaderLength: 1024);

    [Fact]
    public void OnlySessionCookiesKeyTheGrainWhateverElseTheHeaderCarries()
    {
        var bare = Keys.Select(SessionRequest.FromCookieHeader("authjs.session-token=abc"));
        var noisy = Keys.Select(SessionRequest.FromCookieHeader("theme=dark; authjs.session-token=abc; authjs.csrf-token=x|y"));

        Assert.Equal(SessionKeyKind.Key, bare.Kind);
        Assert.Equal(bare.Hash, noisy.Hash);
        Assert.Equal(["authjs.session-token"], noisy.Cookies.Select(static c => c.Key));
    }

    [Fact]
    public void AChunkedTokenKeysTheGrainItsWholeFormKeys()
    {
        var whole = Keys.Select(SessionRequest.FromCookieHeader("authjs.session-token=abcdef"));
        var chunked = Keys.Select(SessionRequest.FromCookieHeader("authjs.session-token.1=def; authjs.session-token.0=abc"));

        Assert.Equal(whole.Hash, chunked.Hash);
    }

    [Fact]
    public void TheInPlaceWalkAgreesWithTheGeneralPathOrDefersToIt()
    {
        const string Header = "theme=dark; app.session=tok-1; other=1";
        Assert.True(Keys.TryLocateSingleSessionCookie(Header, out var name, out var start, out var length));
        Assert.Equal("app.session=" + Header.Substring(start, length) + "\n", Keys.Select(SessionRequest.FromCookieHeader(Header)).Canonical);
        Assert.Equal("app.session", name);

        // Chunks, two session cookies, and percent-encoding go the general way.
        Assert.False(Keys.TryLocateSingleSessionCookie("authjs.session-token.0=a; authjs.session-token.1=b", out _, out _, out _));
        Assert.False(Keys.TryLocateSingleSessionCookie("authjs.session-token=a; next-auth.session-token=b", out _, out _, out _));
        Assert.False(Keys.TryLocateSingleSessionCookie("authjs.session-token=a%3Db", out _, out _, out _));
    }

    [Fact]
    public void ABearerTokenCountsOnlyWithoutASessionCookie()
    {
        var bearer = Keys.Select(SessionRequest.FromCookieHeader(null, "Bearer tok"));
        var both = Keys.Select(SessionRequest.FromCookieHeader("authjs.session-token=abc", "Bearer tok"));

        Assert.Equal(SessionKeyKind.Key, bearer.Kind);
        Assert.Equal("Bearer tok", bearer.Authorization);
        Assert.Null(both.Authorization);
        Assert.Equal(SessionKeyKind.None, Keys.Select(SessionRequest.FromCookieHeader(null, "Basic dXNlcg==")).Kind);
        Assert.Equal(SessionKeyKind.None, Keys.Select(SessionRequest.FromCookieHeader(null, "Bearertok")).Kind);
    }

    [Fact]
    public void NoSessionCookieIsNothingToLookUpAndAnOversizedHeaderIsRefusedUnread()
    {
        Assert.Equal(SessionKeyKind.None, Keys.Select(SessionRequest.FromCookieHeader("theme=dark; authjs.session-token=")).Kind);
        Assert.Equal(SessionKeyKind.TooLarge, Keys.Select(SessionRequest.FromCookieHeader("authjs.session-token=" + new string('a', 1100))).Kind);
        Assert.False(Keys.TryLocateSingleSessionCookie("authjs.session-token=" + new string('a', 1100), out _, out _, out _));
    }

    [Fact]
    public void AUserKeyIsAHashNotTheId()
    {
        var key = SessionKeys.UserKeyOf("someone@example.test");

        Assert.DoesNotContain("someone", key, StringComparison.Ordinal);
        Assert.Equal(key, SessionKeys.UserKeyOf("someone@example.test"));
        Assert.NotEqual(key, SessionKeys.UserKeyOf("someone-else@example.test"));
    }
}
