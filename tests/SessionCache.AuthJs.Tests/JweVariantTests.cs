using SessionCache.AuthJs.Internals;

namespace SessionCache.AuthJs.Tests;

/// <summary>
/// JWE tokens Auth.js' own encode never writes (<c>zip</c>, <c>crit</c>, claims replicated into the
/// header, other content encryptions, text a JSON.stringify never gives), made by jose and judged by
/// the decode of the Auth.js generation they belong to: jose 6 in @auth/core for v5 tokens, jose 4 in
/// next-auth@4 for v4 ones. The decoder must give the same verdict on every one, and the same claims.
/// </summary>
[Collection(AuthJsCollection.Name)]
public sealed class JweVariantTests(AuthJsServer authJs)
{
    private static readonly string[] V5Secrets = [AuthJsServer.Secret2, AuthJsServer.Secret1, AuthJsServer.Secret0];

    private readonly ISessionResolver _resolver = Resolvers.Jwt();

    /// <summary>Flavor, variant, and whether that flavor's decode accepts it (pinned, so a broken fixture cannot pass).</summary>
    public static TheoryData<string, string, bool> Variants { get; } = new()
    {
        // jose inflates "zip":"DEF" up to 250,000 bytes (inclusive) and refuses any more; v4 and v6 alike.
        { "v5", "zip-def", true },
        { "v4", "zip-def", true },
        { "v5", "zip-def-at-limit", true },
        { "v4", "zip-def-at-limit", true },
        { "v5", "zip-def-over-limit", false },
        { "v4", "zip-def-over-limit", false },
        { "v5", "zip-def-bomb", false },
        { "v4", "zip-def-bomb", false },
        { "v5", "zip-def-truncated", false },
        { "v4", "zip-def-truncated", false },
        { "v5", "zip-def-trailing-bytes", true },
        { "v4", "zip-def-trailing-bytes", true },
        { "v5", "zip-def-not-deflated", false },
        { "v4", "zip-def-not-deflated", false },
        // Streams zlib's deflate never writes, inflated by zlib under jose: one that stops before its
        // final block is refused; so are the codes, lengths and distances zlib refuses.
        { "v5", "zip-def-unterminated", false },
        { "v4", "zip-def-unterminated", false },
        { "v5", "zip-def-empty", false },
        { "v4", "zip-def-empty", false },
        { "v5", "zip-def-stored", true },
        { "v4", "zip-def-stored", true },
        { "v5", "zip-def-multiple-blocks", true },
        { "v4", "zip-def-multiple-blocks", true },
        { "v5", "zip-def-stored-bad-length", false },
        { "v4", "zip-def-stored-bad-length", false },
        { "v5", "zip-def-block-type-3", false },
        { "v4", "zip-def-block-type-3", false },
        { "v5", "zip-def-fixed-copy", true },
        { "v4", "zip-def-fixed-copy", true },
        { "v5", "zip-def-fixed-distance-too-far", false },
        { "v4", "zip-def-fixed-distance-too-far", false },
        { "v5", "zip-def-fixed-distance-30", false },
        { "v4", "zip-def-fixed-distance-30", false },
        { "v5", "zip-def-fixed-length-286", false },
        { "v4", "zip-def-fixed-length-286", false },
        { "v5", "zip-def-dynamic", true },
        { "v4", "zip-def-dynamic", true },
        { "v5", "zip-def-dynamic-no-distances", true },
        { "v4", "zip-def-dynamic-no-distances", true },
        { "v5", "zip-def-dynamic-lone-distance-of-2-bits", false },
        { "v4", "zip-def-dynamic-lone-distance-of-2-bits", false },
        { "v5", "zip-def-dynamic-incomplete-literals", false },
        { "v4", "zip-def-dynamic-incomplete-literals", false },
        { "v5", "zip-def-dynamic-oversubscribed-literals", false },
        { "v4", "zip-def-dynamic-oversubscribed-literals", false },
        { "v5", "zip-def-dynamic-missing-end-of-block", false },
        { "v4", "zip-def-dynamic-missing-end-of-block", false },
        { "v5", "zip-def-dynamic-too-many-lengths", false },
        { "v4", "zip-def-dynamic-too-many-lengths", false },
        { "v5", "zip-def-dynamic-repeat-first", false },
        { "v4", "zip-def-dynamic-repeat-first", false },
        { "v5", "zip-gzip", false },
        { "v4", "zip-gzip", false },

        // Neither decode recognizes any JWE extension: every "crit" refuses the token.
        { "v5", "crit-unknown-extension", false },
        { "v4", "crit-unknown-extension", false },
        { "v5", "crit-b64", false },
        { "v4", "crit-b64", false },
        { "v5", "crit-empty", false },
        { "v4", "crit-empty", false },

        // jwtDecrypt: header iss and sub must be === the claim, header aud JSON.stringify-equal to it.
        { "v5", "replicated-match", true },
        { "v4", "replicated-match", true },
        { "v5", "replicated-aud-array-match", true },
        { "v4", "replicated-aud-array-match", true },
        { "v5", "replicated-sub-mismatch", false },
        { "v4", "replicated-sub-mismatch", false },
        { "v5", "replicated-iss-mismatch", false },
        { "v4", "replicated-iss-mismatch", false },
        { "v5", "replicated-aud-mismatch", false },
        { "v4", "replicated-aud-mismatch", false },
        { "v5", "replicated-aud-order", false },
        { "v4", "replicated-aud-order", false },
        { "v5", "replicated-sub-absent-from-claims", false },
        { "v4", "replicated-sub-absent-from-claims", false },
        { "v5", "replicated-sub-null", true },
        { "v4", "replicated-sub-null", true },
        { "v5", "replicated-sub-escaped", true },
        { "v4", "replicated-sub-escaped", true },
        { "v5", "replicated-sub-duplicate-claim", true },
        { "v4", "replicated-sub-duplicate-claim", true },
        { "v5", "replicated-iss-number-spelling", true },
        { "v4", "replicated-iss-number-spelling", true },
        { "v5", "replicated-iss-object", false },
        { "v4", "replicated-iss-object", false },
        { "v5", "replicated-aud-number-spelling", true },
        { "v4", "replicated-aud-number-spelling", true },
        { "v5", "replicated-aud-object-member-order", false },
        { "v4", "replicated-aud-object-member-order", false },
        { "v5", "replicated-aud-object-index-members", true },
        { "v4", "replicated-aud-object-index-members", true },
        { "v5", "replicated-aud-duplicate-member", true },
        { "v4", "replicated-aud-duplicate-member", true },
        { "v5", "replicated-aud-overflow-is-null", true },
        { "v4", "replicated-aud-overflow-is-null", true },

        // Text as TextDecoder and JSON.parse read it: one BOM dropped, invalid UTF-8 fatal for jose 6
        // only, lone surrogates (a name cut in the middle of an emoji) strings like any other.
        { "v5", "header-lone-surrogate-member", true },
        { "v4", "header-lone-surrogate-member", true },
        { "v5", "header-lone-surrogate-kid", false },
        { "v4", "header-lone-surrogate-kid", true },
        { "v5", "header-bom", true },
        { "v4", "header-bom", true },
        { "v5", "header-invalid-utf8", false },
        { "v4", "header-invalid-utf8", true },
        { "v5", "claims-lone-surrogate-name", true },
        { "v4", "claims-lone-surrogate-name", true },
        { "v5", "claims-lone-surrogate-member", true },
        { "v4", "claims-lone-surrogate-member", true },
        { "v5", "claims-bom", true },
        { "v4", "claims-bom", true },
        { "v5", "claims-invalid-utf8", false },
        { "v4", "claims-invalid-utf8", true },
        { "v5", "replicated-sub-lone-surrogate", true },
        { "v4", "replicated-sub-lone-surrogate", true },
        { "v5", "replicated-sub-lone-surrogate-mismatch", false },
        { "v4", "replicated-sub-lone-surrogate-mismatch", false },

        // Auth.js allows A256CBC-HS512 and A256GCM; NextAuth.js v4 allows any enc its 32-byte key fits.
        { "v5", "enc-a128cbc-hs256", false },
        { "v4", "enc-a128cbc-hs256", true },
        { "v5", "enc-a256cbc-hs512", true },
        { "v4", "enc-a256cbc-hs512", false },
        { "v5", "enc-a256gcm", true },
        { "v4", "enc-a256gcm", true },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task VariantGetsTheVerdictOfJose(string flavor, string variant, bool accepted)
    {
        var judged = await JudgeAsync(flavor, variant);
        Assert.True(accepted == judged.Accepted, $"jose {judged.JoseVersion} {(judged.Accepted ? "accepts" : "refuses: " + judged.Reason)}");

        var cookie = flavor == "v5" ? "authjs.session-token" : "next-auth.session-token";
        var result = await _resolver.LookupAsync(SessionRequest.FromCookieHeader($"{cookie}={judged.Token}"));

        if (!judged.Accepted)
        {
            Assert.True(result.Status == SessionLookupStatus.Invalid, $"jose {judged.JoseVersion} refuses ({judged.Reason}); ours: {result.Status}");
            Assert.Null(result.Session);
            return;
        }

        Assert.True(result.Status == SessionLookupStatus.Session, $"jose {judged.JoseVersion} accepts; ours: {result.Status} ({result.Reason})");
        Assert.Equal(judged.Name, result.Session!.User!.Name);
        Assert.Equal(judged.Email, result.Session.User.Email);
        Assert.Equal(judged.Sub, result.UserId);
        Assert.NotNull(System.Text.Json.Nodes.JsonNode.Parse(result.Session.ToString()));
    }

    [Fact]
    public async Task EveryVariantOfTheFixtureIsJudgedForBothFlavors()
    {
        var covered = Variants.Select(static row => ((string)row[0], (string)row[1])).ToHashSet();

        foreach (var variant in await authJs.JweVariantsAsync())
        {
            Assert.Contains(("v5", variant), covered);
            Assert.Contains(("v4", variant), covered);
        }
    }

    /// <summary>
    /// Re-issuing writes the claims again, which System.Text.Json cannot do with a lone surrogate in
    /// them: such a cookie is left as it is (it keeps its expiry) instead of failing the request.
    /// </summary>
    [Theory]
    [InlineData("zip-def", true)]
    [InlineData("replicated-match", true)]
    [InlineData("claims-lone-surrogate-name", false)]
    [InlineData("claims-lone-surrogate-member", false)]
    public async Task AcceptedVariantIsReissuedUnlessItsClaimsCannotBeWrittenAgain(string variant, bool reissued)
    {
        var judged = await JudgeAsync("v5", variant);
        using var services = Resolvers.Build(Resolvers.JwtSettings());
        var source = (JwtSessionSource)services.GetService(typeof(JwtSessionSource))!;
        var request = SessionRequest.FromCookieHeader($"authjs.session-token={judged.Token}");
        Assert.Equal(SessionLookupStatus.Session, source.Resolve(request).Status);

        var token = source.Reissue(request);

        Assert.Equal(reissued, token is not null);
        if (token is not null)
        {
            var again = source.Resolve(SessionRequest.FromCookieHeader($"authjs.session-token={token.Token}"));
            Assert.Equal(SessionLookupStatus.Session, again.Status);
            Assert.Equal(judged.Sub, again.UserId);
        }
    }

    /// <summary>About 8 MB of zeros deflated into a cookie: inflating stops just past jose's limit.</summary>
    [Fact]
    public async Task InflationBombIsCutOffAtTheLimit()
    {
        var judged = await JudgeAsync("v5", "zip-def-bomb");
        var key = new AuthJsKeyRing(new AuthJsSecrets(V5Secrets, null)).ForAuthJs("authjs.session-token", ContentEncryption.A256CbcHs512)[0];
        Assert.True(JweToken.TryParse(judged.Token, new HashSet<ContentEncryption> { ContentEncryption.A256CbcHs512 }, fatalText: true, out var jwe, out _));
        Assert.True(jwe.Compressed);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var plaintext = jwe.Decrypt(key);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Null(plaintext);
        Assert.InRange(allocated, 0, 1024 * 1024);
    }

    /// <summary>The inflater against zlib itself, on streams zlib's deflate wrote and the same streams damaged.</summary>
    [Fact]
    public async Task InflaterAgreesWithZlibOnDamagedStreams()
    {
        var cases = await authJs.DeflateCasesAsync(seed: 1, count: 2000);
        var disagreements = new List<string>();

        foreach (var (input, inflated) in cases)
        {
            var ours = RawDeflate.Inflate(input, 250_000);
            var same = inflated is null ? ours is null : ours is not null && Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(ours)) == inflated;
            if (!same)
            {
                disagreements.Add($"{Convert.ToBase64String(input)}: zlib {(inflated is null ? "refuses" : "inflates")}, ours {(ours is null ? "refuses" : $"{ours.Length} bytes")}");
            }
        }

        Assert.True(disagreements.Count == 0, string.Join('\n', disagreements.Take(5)));
        Assert.InRange(cases.Count(static c => c.Inflated is null), 500, 1500);
    }

    private Task<JweVerdict> JudgeAsync(string flavor, string variant) =>
        authJs.JudgeJweVariantAsync(flavor, variant, flavor == "v5" ? V5Secrets : AuthJsServer.NextAuthSecret);
}
