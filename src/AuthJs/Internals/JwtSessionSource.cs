using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// Local mode, JWT strategy: decrypts the session cookie as Auth.js' <c>getToken</c> and
/// <c>jwt.decode</c> do (or NextAuth.js v4's), and builds the session its handler would answer.
/// </summary>
internal sealed partial class JwtSessionSource : ISessionSource
{
    // jose's clockTolerance as Auth.js sets it.
    private const int ClockToleranceSeconds = 15;

    private const string AuthJsCookie = "authjs.session-token";
    private const string NextAuthCookie = "next-auth.session-token";
    private const string SecurePrefix = "__Secure-";

    private static readonly HashSet<ContentEncryption> AuthJsAlgorithms = [ContentEncryption.A256CbcHs512, ContentEncryption.A256Gcm];

    // jose 4 without an enc allow-list accepts any algorithm whose key is as long as the 32-byte v4 key.
    private static readonly HashSet<ContentEncryption> NextAuthV4Algorithms = [ContentEncryption.A256Gcm, ContentEncryption.A128CbcHs256];

    private readonly AuthJsKeyRing _keys;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _sessionMaxAge;
    private readonly int _maxCookieHeaderLength;
    private readonly (string Name, bool NextAuthV4)[] _cookies;
    private readonly (string Salt, bool NextAuthV4)[] _bearerSalts;
    private readonly byte[] _signedInAtClaim;
    private readonly ISessionShaper? _shaper;

    public JwtSessionSource(SessionCacheOptions options, AuthJsKeyRing keys, TimeProvider time, ILogger<JwtSessionSource> logger, ISessionShaper? shaper = null)
    {
        _shaper = shaper;
        _keys = keys;
        _time = time;
        _logger = logger;
        _sessionMaxAge = options.Jwt.SessionMaxAge;
        _maxCookieHeaderLength = options.MaxCookieHeaderLength;
        _signedInAtClaim = System.Text.Encoding.UTF8.GetBytes(options.Jwt.SignedInAtClaim);

        var flavor = options.Jwt.Flavor;
        var v5 = flavor != AuthJsFlavor.NextAuthV4;
        var v4 = flavor != AuthJsFlavor.AuthJs;
        if (options.Jwt.CookieName is { Length: > 0 } custom)
        {
            var isV4 = flavor == AuthJsFlavor.NextAuthV4;
            _cookies = [(custom, isV4)];
            _bearerSalts = [(isV4 ? string.Empty : custom, isV4)];
            return;
        }

        var cookies = new List<(string, bool)>();
        var salts = new List<(string, bool)>();
        if (v5)
        {
            cookies.Add((SecurePrefix + AuthJsCookie, false));
            cookies.Add((AuthJsCookie, false));

            // getToken's default salt is the plain cookie name; a kid tells a token for the secure name apart.
            salts.Add((AuthJsCookie, false));
            salts.Add((SecurePrefix + AuthJsCookie, false));
        }

        if (v4)
        {
            cookies.Add((SecurePrefix + NextAuthCookie, true));
            cookies.Add((NextAuthCookie, true));
            salts.Add((string.Empty, true));
        }

        _cookies = [.. cookies];
        _bearerSalts = [.. salts];
    }

    public ValueTask<SessionLookupResult> ResolveAsync(SessionRequest request, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Resolve(request));

    public SessionLookupResult Resolve(SessionRequest request)
    {
        foreach (var (name, nextAuthV4) in _cookies)
        {
            var token = CookieReader.ReadSessionToken(request, name);
            if (token.Length > 0)
            {
                return Decode(token, [(nextAuthV4 ? string.Empty : name, nextAuthV4)], name);
            }
        }

        // getToken's fallback: "Authorization: Bearer <url-encoded token>".
        if (request.Authorization is { } authorization)
        {
            var parts = authorization.Split(' ');
            if (parts[0] == "Bearer")
            {
                // JavaScript's split(" ")[1] is undefined for "Bearer", and decodeURIComponent(undefined) is "undefined".
                var encoded = parts.Length > 1 ? parts[1] : "undefined";
                if (!UriComponent.TryDecode(encoded, out var token))
                {
                    return Reject("malformed bearer token");
                }

                if (token.Length > 0)
                {
                    return Decode(token, _bearerSalts, cookieName: null);
                }
            }
        }

        return SessionLookupResult.NoSession;
    }

    /// <summary>
    /// The session cookie of this request re-issued as Auth.js' session endpoint re-issues it: the
    /// claims (what the app's <c>jwt</c> callback returned, where it runs) with <c>iat</c>, <c>exp</c>
    /// (now + <see cref="JwtSessionOptions.SessionMaxAge"/>) and <c>jti</c> renewed and the sign-in
    /// time claim kept (or set from the old <c>iat</c>), encrypted as the cookie's generation
    /// encrypts: Auth.js v5 with the first secret for the cookie's name (<c>A256CBC-HS512</c>,
    /// <c>kid</c>), NextAuth.js v4 with its one key (<c>A256GCM</c>). The claims come from
    /// <paramref name="result"/>, the cached answer for this very cookie, so nothing is decoded and
    /// no callback runs again; a result without them (from an older silo) has the cookie decoded.
    /// <see langword="null"/> for a request whose cookie does not decode to a session.
    /// </summary>
    public ReissuedSessionToken? Reissue(SessionRequest request, SessionLookupResult? result = null)
    {
        if (result?.Token is { CookieName: { } carriedIn } cached)
        {
            foreach (var (name, nextAuthV4) in _cookies)
            {
                if (name == carriedIn && CookieReader.ReadSessionToken(request, name).Length > 0)
                {
                    return Encrypt(name, nextAuthV4, cached.ReissueClaims ?? cached.Bytes);
                }
            }
        }

        foreach (var (name, nextAuthV4) in _cookies)
        {
            var token = CookieReader.ReadSessionToken(request, name);
            if (token.Length == 0)
            {
                continue;
            }

            if (Decode(token, [(nextAuthV4 ? string.Empty : name, nextAuthV4)], name, out var claims).Status != SessionLookupStatus.Session || claims is null)
            {
                return null;
            }

            return Encrypt(name, nextAuthV4, claims);
        }

        return null;
    }

    private ReissuedSessionToken? Encrypt(string name, bool nextAuthV4, byte[] claims)
    {
        var key = nextAuthV4 ? _keys.ForNextAuthV4 : _keys.ForAuthJs(name, ContentEncryption.A256CbcHs512).FirstOrDefault();
        if (key is null)
        {
            return null;
        }

        var now = _time.GetUtcNow();
        var expires = now + _sessionMaxAge;
        if (Renew(claims, now.ToUnixTimeSeconds(), expires.ToUnixTimeSeconds()) is not { } renewed)
        {
            return null;
        }

        var reissued = nextAuthV4 ? JweToken.EncryptGcm(key, renewed) : JweToken.EncryptCbcHs512(key, renewed);
        return new ReissuedSessionToken(name, reissued, expires, nextAuthV4);
    }

    /// <summary>
    /// The claims with Auth.js' encode applied: members in their order, renewed ones replaced, new
    /// ones last. <see langword="null"/> for claims System.Text.Json cannot write (a lone surrogate
    /// in a string): the cookie then keeps the expiry it has.
    /// </summary>
    private byte[]? Renew(byte[] claims, long now, long expires)
    {
        using var document = JsonDocument.Parse(claims);
        if (!JsonText.IsWellFormed(document.RootElement))
        {
            return null;
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>(claims.Length + 128);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            bool hadIat = false, hadExp = false, hadJti = false, hadSignedIn = false;
            JsonElement? oldIat = null;
            foreach (var claim in document.RootElement.EnumerateObject())
            {
                if (claim.NameEquals("iat"u8))
                {
                    hadIat = true;
                    oldIat = claim.Value;
                    writer.WriteNumber("iat"u8, now);
                }
                else if (claim.NameEquals("exp"u8))
                {
                    hadExp = true;
                    writer.WriteNumber("exp"u8, expires);
                }
                else if (claim.NameEquals("jti"u8))
                {
                    hadJti = true;
                    writer.WriteString("jti"u8, Guid.NewGuid().ToString());
                }
                else if (!claim.NameEquals(_signedInAtClaim) || claim.Value.ValueKind != JsonValueKind.Null)
                {
                    // A token that decoded to a session has a numeric sign-in time or none (null is none).
                    hadSignedIn |= claim.NameEquals(_signedInAtClaim);
                    claim.WriteTo(writer);
                }
            }

            // A token minted before the app stamped the sign-in time: its last issue is the best bound.
            if (!hadSignedIn && oldIat is { } issued)
            {
                writer.WritePropertyName(_signedInAtClaim);
                issued.WriteTo(writer);
            }

            if (!hadIat)
            {
                writer.WriteNumber("iat"u8, now);
            }

            if (!hadExp)
            {
                writer.WriteNumber("exp"u8, expires);
            }

            if (!hadJti)
            {
                writer.WriteString("jti"u8, Guid.NewGuid().ToString());
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private SessionLookupResult Decode(string token, (string Salt, bool NextAuthV4)[] candidates, string? cookieName) => Decode(token, candidates, cookieName, out _);

    // claims: what a re-issued cookie carries, the app's jwt callback's token where it runs, else the decoded one.
    private SessionLookupResult Decode(string token, (string Salt, bool NextAuthV4)[] candidates, string? cookieName, out byte[]? claims)
    {
        claims = null;
        if (token.Length > _maxCookieHeaderLength)
        {
            return Reject("token too large");
        }

        var reason = "no matching decryption secret";
        foreach (var (salt, nextAuthV4) in candidates)
        {
            var allowed = nextAuthV4 ? NextAuthV4Algorithms : AuthJsAlgorithms;
            // jose 6 (Auth.js) decodes text with a fatal decoder, jose 4 (NextAuth.js v4) with a lenient one.
            if (!JweToken.TryParse(token, allowed, fatalText: !nextAuthV4, out var jwe, out var parseFailure))
            {
                reason = parseFailure;
                continue;
            }

            var key = nextAuthV4 ? _keys.ForNextAuthV4 : SelectAuthJsKey(jwe, salt);
            if (key is null)
            {
                reason = "no matching decryption secret";
                continue;
            }

            var plaintext = jwe.Decrypt(key);
            if (plaintext is null)
            {
                reason = "decryption failed";
                continue;
            }

            if (!JsonText.TryDecode(plaintext, fatal: !nextAuthV4, out var json))
            {
                return Reject("claims are not UTF-8");
            }

            var result = FromClaims(json, jwe, cookieName, out var shapedToken);
            claims = shapedToken ?? json;
            return result;
        }

        return Reject(reason);
    }

    private DerivedKey? SelectAuthJsKey(in JweToken jwe, string salt)
    {
        var keys = _keys.ForAuthJs(salt, jwe.Encryption);
        if (keys.Length == 0)
        {
            return null;
        }

        // Without a kid Auth.js tries only its first secret.
        if (!jwe.HasKid)
        {
            return keys[0];
        }

        foreach (var key in keys)
        {
            if (string.Equals(jwe.Kid, key.Thumbprint, StringComparison.Ordinal))
            {
                return key;
            }
        }

        return null;
    }

    private SessionLookupResult FromClaims(byte[] plaintext, in JweToken jwe, string? cookieName, out byte[]? shapedToken)
    {
        shapedToken = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(plaintext);
        }
        catch (JsonException)
        {
            return Reject("claims are not JSON");
        }

        using (document)
        {
            var claims = document.RootElement;
            if (claims.ValueKind != JsonValueKind.Object)
            {
                return Reject("claims are not an object");
            }

            if (!TryNumericDate(claims, "iat"u8, out var iat) || !TryNumericDate(claims, "nbf"u8, out var nbf) || !TryNumericDate(claims, "exp"u8, out var exp))
            {
                return Reject("a date claim is not a number");
            }

            var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var now = Math.Floor(nowMs / 1000d);
            if (nbf is { } notBefore && notBefore > now + ClockToleranceSeconds)
            {
                return Reject("not yet valid");
            }

            if (exp is { } expiry && expiry <= now - ClockToleranceSeconds)
            {
                LogExpired(_logger);
                return SessionLookupResult.Expired("token expired");
            }

            if (!jwe.ReplicatedClaims.MatchedBy(claims))
            {
                return Reject("replicated header claim mismatch");
            }

            if (!TrySignedInAt(claims, iat, now, out var signedInAt, out var signedInFailure))
            {
                return Reject(signedInFailure);
            }

            var reportedExpiry = DateTimeOffset.FromUnixTimeMilliseconds(nowMs) + _sessionMaxAge;
            var name = Claim(claims, "name"u8);
            var email = Claim(claims, "email"u8);
            var picture = Claim(claims, "picture"u8);
            var expires = SessionJson.ToIsoString(reportedExpiry);
            var json = SessionJson.Write(name, email, picture, expires);
            AuthJsSession session;
            if (_shaper is null)
            {
                var user = new AuthJsUser(StringOrNull(name), StringOrNull(email), StringOrNull(picture));
                session = new AuthJsSession(json, user, DateTimeOffset.FromUnixTimeMilliseconds(reportedExpiry.ToUnixTimeMilliseconds()));
            }
            else
            {
                // The app's jwt and session callbacks (or mapping, or hook): Auth.js answers null, and
                // clears the cookie, when they throw or give no token.
                var shaped = _shaper.ShapeJwt(plaintext, expires, json);
                if (shaped.Transient)
                {
                    return SessionLookupResult.UpstreamFailure(shaped.Failure ?? "the callbacks ran out of time", retryable: true);
                }

                if (shaped.Session is not { } shapedJson || !SessionShaping.TryParse(shapedJson, out var shapedSession))
                {
                    return Reject(shaped.Failure ?? "the shaped session is not a JSON object");
                }

                shapedToken = shaped.Token;
                session = shapedSession;
            }

            var validUntil = reportedExpiry;
            if (exp is { } tokenExpiry && ToDate(tokenExpiry) is { } tokenExpiryDate && tokenExpiryDate < validUntil)
            {
                validUntil = tokenExpiryDate;
            }

            var userId = JsonText.TryGetMember(claims, "sub"u8, out var sub) && sub.ValueKind == JsonValueKind.String ? JsonText.GetString(sub) : null;
            return SessionLookupResult.Found(session, userId, iat is { } issued ? ToDate(issued) : null, validUntil, signedInAt is { } signedIn ? ToDate(signedIn) : null)
                .WithToken(new AuthJsToken(plaintext, cookieName, shapedToken));
        }
    }

    /// <summary>
    /// Reads the sign-in time that sign-outs are decided by. A token without the claim falls back
    /// to <c>iat</c> (the caller sees <see langword="null"/>). A claim that is not a number, is later
    /// than the token's own <c>iat</c>, or a sign-in time in the future refuses the token: any of
    /// them would let a signed-out session look like a later sign-in.
    /// </summary>
    private bool TrySignedInAt(JsonElement claims, double? iat, double now, out double? signedInAt, out string failure)
    {
        signedInAt = null;
        failure = string.Empty;
        if (JsonText.TryGetMember(claims, _signedInAtClaim, out var claim) && claim.ValueKind != JsonValueKind.Null)
        {
            if (claim.ValueKind != JsonValueKind.Number || !claim.TryGetDouble(out var value) || !double.IsFinite(value) || ToDate(value) is null)
            {
                failure = "the sign-in time claim is not a number of seconds";
                return false;
            }

            if (iat is { } issued && value > issued + ClockToleranceSeconds)
            {
                failure = "the sign-in time claim is later than iat (Unix seconds are expected, not milliseconds)";
                return false;
            }

            signedInAt = value;
        }

        if ((signedInAt ?? iat) is { } effective && effective > now + ClockToleranceSeconds)
        {
            failure = "the sign-in time is in the future";
            return false;
        }

        return true;
    }

    private static string? StringOrNull(JsonElement? value) =>
        value is { ValueKind: JsonValueKind.String } element ? JsonText.GetString(element) : null;

    private static JsonElement? Claim(JsonElement claims, ReadOnlySpan<byte> name) => JsonText.Member(claims, name);

    private static bool TryNumericDate(JsonElement claims, ReadOnlySpan<byte> name, out double? value)
    {
        value = null;
        if (!JsonText.TryGetMember(claims, name, out var element))
        {
            return true;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var number))
        {
            return false;
        }

        value = number;
        return true;
    }

    private static DateTimeOffset? ToDate(double seconds) =>
        seconds is > -62_135_596_800d and < 253_402_300_799d ? DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000)) : null;

    private SessionLookupResult Reject(string reason)
    {
        LogTokenRejected(_logger, reason);
        return SessionLookupResult.Invalid(reason);
    }

    /// <summary>The session cookie names this source reads tokens from, likeliest first.</summary>
    public IEnumerable<string> CookieNames => _cookies.Select(static c => c.Name);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Debug, Message = "Session token rejected: {Reason}")]
    private static partial void LogTokenRejected(ILogger logger, string reason);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Debug, Message = "Session token expired")]
    private static partial void LogExpired(ILogger logger);
}

/// <summary>A re-issued session token, for the cookie it belongs in.</summary>
internal sealed record ReissuedSessionToken(string CookieName, string Token, DateTimeOffset Expires, bool NextAuthV4);
