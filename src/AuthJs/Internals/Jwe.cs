using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace SessionCache.AuthJs.Internals;

/// <summary>The JWE content encryption algorithms Auth.js and NextAuth.js tokens use.</summary>
internal enum ContentEncryption
{
    A128CbcHs256,
    A256CbcHs512,
    A256Gcm,
}

/// <summary>
/// A compact JWE (RFC 7516) with <c>alg=dir</c>, parsed and checked as <c>jose</c>' <c>jwtDecrypt</c>
/// checks it before it asks for a key.
/// </summary>
internal readonly struct JweToken
{
    // jose's limit on an inflated "zip":"DEF" payload: more refuses the token (jose 4: node:zlib's
    // maxOutputLength; jose 6: maxDecompressedLength, which Auth.js leaves at its default).
    private const int MaxInflatedBytes = 250_000;

    private readonly string _token;
    private readonly Range _iv;
    private readonly Range _ciphertext;
    private readonly Range _tag;
    private readonly int _protectedLength;

    private JweToken(string token, Range iv, Range ciphertext, Range tag, int protectedLength, ContentEncryption encryption, bool hasKid, string? kid, bool compressed, HeaderClaims claims)
    {
        _token = token;
        _iv = iv;
        _ciphertext = ciphertext;
        _tag = tag;
        _protectedLength = protectedLength;
        Encryption = encryption;
        HasKid = hasKid;
        Kid = kid;
        Compressed = compressed;
        ReplicatedClaims = claims;
    }

    public ContentEncryption Encryption { get; }

    /// <summary>Whether the header has a <c>kid</c> at all (Auth.js then tries only its first secret when it has none).</summary>
    public bool HasKid { get; }

    /// <summary>The header's <c>kid</c> when it is a string; a kid of another type matches no key.</summary>
    public string? Kid { get; }

    public bool Compressed { get; }

    /// <summary><c>iss</c>, <c>sub</c>, <c>aud</c> copied into the header, which must match the payload's.</summary>
    public HeaderClaims ReplicatedClaims { get; }

    /// <summary>
    /// Parses and checks the header. <paramref name="fatalText"/>: invalid UTF-8 in the header refuses
    /// the token (jose 6) rather than reading as U+FFFD (jose 4).
    /// </summary>
    public static bool TryParse(string token, IReadOnlySet<ContentEncryption> allowed, bool fatalText, out JweToken jwe, out string reason)
    {
        jwe = default;
        Span<Range> parts = stackalloc Range[6];
        if (token.AsSpan().Split(parts, '.') != 5)
        {
            reason = "not a compact JWE";
            return false;
        }

        var headerText = token.AsSpan()[parts[0]];
        byte[] headerBytes;
        try
        {
            headerBytes = Base64Url.DecodeFromChars(headerText);
        }
        catch (FormatException)
        {
            reason = "protected header is not base64url";
            return false;
        }

        if (!JsonText.TryDecode(headerBytes, fatalText, out var headerJson))
        {
            reason = "protected header is not UTF-8";
            return false;
        }

        JsonDocument header;
        try
        {
            header = JsonDocument.Parse(headerJson);
        }
        catch (JsonException)
        {
            reason = "protected header is not JSON";
            return false;
        }

        using (header)
        {
            var root = header.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                reason = "protected header is not an object";
                return false;
            }

            // No JWE extension parameters are recognized, so any "crit" makes the token unusable.
            if (JsonText.TryGetMember(root, "crit"u8, out _))
            {
                reason = "unsupported crit header";
                return false;
            }

            var compressed = false;
            if (JsonText.TryGetMember(root, "zip"u8, out var zip))
            {
                if (!JsonText.IsString(zip, "DEF"))
                {
                    reason = "unsupported zip header";
                    return false;
                }

                compressed = true;
            }

            if (!JsonText.TryGetMember(root, "alg"u8, out var alg) || alg.ValueKind != JsonValueKind.String || JsonText.GetString(alg) is not { Length: > 0 } algName)
            {
                reason = "missing alg";
                return false;
            }

            if (algName != "dir")
            {
                reason = "alg not allowed";
                return false;
            }

            if (!JsonText.TryGetMember(root, "enc"u8, out var enc) || enc.ValueKind != JsonValueKind.String || JsonText.GetString(enc) is not { Length: > 0 } encName)
            {
                reason = "missing enc";
                return false;
            }

            ContentEncryption? encryption = encName switch
            {
                "A256CBC-HS512" => ContentEncryption.A256CbcHs512,
                "A256GCM" => ContentEncryption.A256Gcm,
                "A128CBC-HS256" => ContentEncryption.A128CbcHs256,
                _ => null,
            };
            if (encryption is not { } encValue || !allowed.Contains(encValue))
            {
                reason = "enc not allowed";
                return false;
            }

            // "dir" uses the shared key as the content key: the encrypted key must be empty.
            if (!parts[1].Equals(parts[1].Start..parts[1].Start))
            {
                reason = "unexpected encrypted key";
                return false;
            }

            var (ivLength, tagLength) = Sizes(encValue);
            if (!HasDecodedLength(token, parts[2], ivLength))
            {
                reason = "bad initialization vector";
                return false;
            }

            if (!HasDecodedLength(token, parts[4], tagLength))
            {
                reason = "bad authentication tag";
                return false;
            }

            var hasKid = JsonText.TryGetMember(root, "kid"u8, out var kidElement);
            var kid = hasKid && kidElement.ValueKind == JsonValueKind.String ? JsonText.GetString(kidElement) : null;
            jwe = new JweToken(token, parts[2], parts[3], parts[4], headerText.Length, encValue, hasKid, kid, compressed, HeaderClaims.From(root));
            reason = string.Empty;
            return true;
        }
    }

    /// <summary>Authenticates and decrypts; <see langword="null"/> when the key is wrong or the token was altered.</summary>
    public byte[]? Decrypt(DerivedKey key)
    {
        var aad = Encoding.ASCII.GetBytes(_token, 0, _protectedLength);
        byte[] ciphertext;
        Span<byte> iv = stackalloc byte[16];
        Span<byte> tag = stackalloc byte[32];
        try
        {
            ciphertext = Base64Url.DecodeFromChars(_token.AsSpan()[_ciphertext]);
            iv = iv[..Base64Url.DecodeFromChars(_token.AsSpan()[_iv], iv)];
            tag = tag[..Base64Url.DecodeFromChars(_token.AsSpan()[_tag], tag)];
        }
        catch (FormatException)
        {
            return null;
        }

        var plaintext = Encryption == ContentEncryption.A256Gcm
            ? DecryptGcm(key.Key, iv, ciphertext, tag, aad)
            : DecryptCbcHmac(key, iv, ciphertext, tag, aad, Encryption);
        if (plaintext is null || !Compressed)
        {
            return plaintext;
        }

        return RawDeflate.Inflate(plaintext, MaxInflatedBytes);
    }

    /// <summary>
    /// Encrypts claims as Auth.js' <c>encode</c> does: compact JWE, <c>alg</c> <c>dir</c>,
    /// <c>enc</c> <c>A256CBC-HS512</c>, the key's thumbprint as <c>kid</c>, a random IV.
    /// </summary>
    public static string EncryptCbcHs512(DerivedKey key, ReadOnlySpan<byte> claims)
    {
        if (key.Key.Length != 64)
        {
            throw new ArgumentException("A256CBC-HS512 needs a 64-byte key.", nameof(key));
        }

        // Header member order as jose writes it for Auth.js.
        var header = Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"{{\"alg\":\"dir\",\"enc\":\"A256CBC-HS512\",\"kid\":\"{key.Thumbprint}\"}}"));
        var aad = Encoding.ASCII.GetBytes(header);
        Span<byte> iv = stackalloc byte[16];
        RandomNumberGenerator.Fill(iv);
        var ciphertext = key.CbcCipher().EncryptCbc(claims, iv, PaddingMode.PKCS7);

        var macInput = new byte[aad.Length + iv.Length + ciphertext.Length + 8];
        aad.CopyTo(macInput, 0);
        iv.CopyTo(macInput.AsSpan(aad.Length));
        ciphertext.CopyTo(macInput, aad.Length + iv.Length);
        BinaryPrimitives.WriteUInt64BigEndian(macInput.AsSpan(^8), (ulong)aad.Length * 8);
        Span<byte> mac = stackalloc byte[64];
        HMACSHA512.HashData(key.Key.AsSpan(0, 32), macInput, mac);

        return string.Concat(header, "..", Base64Url.EncodeToString(iv), ".", Base64Url.EncodeToString(ciphertext)) + "." + Base64Url.EncodeToString(mac[..32]);
    }

    /// <summary>
    /// Encrypts claims as NextAuth.js v4's <c>encode</c> does: compact JWE, <c>alg</c> <c>dir</c>,
    /// <c>enc</c> <c>A256GCM</c>, no <c>kid</c>, a random 96-bit IV.
    /// </summary>
    public static string EncryptGcm(DerivedKey key, ReadOnlySpan<byte> claims)
    {
        if (key.Key.Length != 32)
        {
            throw new ArgumentException("A256GCM needs a 32-byte key.", nameof(key));
        }

        var header = Base64Url.EncodeToString("{\"alg\":\"dir\",\"enc\":\"A256GCM\"}"u8);
        var aad = Encoding.ASCII.GetBytes(header);
        Span<byte> iv = stackalloc byte[12];
        RandomNumberGenerator.Fill(iv);
        var ciphertext = new byte[claims.Length];
        Span<byte> tag = stackalloc byte[16];
        using (var gcm = new AesGcm(key.Key, tagSizeInBytes: 16))
        {
            gcm.Encrypt(iv, claims, ciphertext, tag, aad);
        }

        return string.Concat(header, "..", Base64Url.EncodeToString(iv), ".", Base64Url.EncodeToString(ciphertext)) + "." + Base64Url.EncodeToString(tag);
    }

    public static int KeyLength(ContentEncryption encryption) => encryption switch
    {
        ContentEncryption.A256CbcHs512 => 64,
        _ => 32,
    };

    private static (int IvLength, int TagLength) Sizes(ContentEncryption encryption) => encryption switch
    {
        ContentEncryption.A256Gcm => (12, 16),
        ContentEncryption.A128CbcHs256 => (16, 16),
        _ => (16, 32),
    };

    private static bool HasDecodedLength(string token, Range range, int expected)
    {
        var text = token.AsSpan()[range];
        return Base64Url.IsValid(text, out var length) && length == expected;
    }

    private static byte[]? DecryptGcm(ReadOnlySpan<byte> key, ReadOnlySpan<byte> iv, byte[] ciphertext, ReadOnlySpan<byte> tag, byte[] aad)
    {
        if (key.Length != 32)
        {
            return null;
        }

        var plaintext = new byte[ciphertext.Length];
        using var gcm = new AesGcm(key, tagSizeInBytes: 16);
        try
        {
            gcm.Decrypt(iv, ciphertext, tag, plaintext, aad);
            return plaintext;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }

    // RFC 7518 5.2.2.2: MAC over AAD || IV || ciphertext || AAD length in bits (64-bit big-endian).
    private static byte[]? DecryptCbcHmac(DerivedKey key, ReadOnlySpan<byte> iv, byte[] ciphertext, ReadOnlySpan<byte> tag, byte[] aad, ContentEncryption encryption)
    {
        var half = KeyLength(encryption) / 2;
        if (key.Key.Length != half * 2 || ciphertext.Length == 0 || ciphertext.Length % 16 != 0)
        {
            return null;
        }

        var macKey = key.Key.AsSpan(0, half);
        var macInputLength = aad.Length + iv.Length + ciphertext.Length + 8;
        var rented = ArrayPool<byte>.Shared.Rent(macInputLength);
        try
        {
            var macInput = rented.AsSpan(0, macInputLength);
            aad.CopyTo(macInput);
            iv.CopyTo(macInput[aad.Length..]);
            ciphertext.CopyTo(macInput[(aad.Length + iv.Length)..]);
            BinaryPrimitives.WriteUInt64BigEndian(macInput[^8..], (ulong)aad.Length * 8);

            Span<byte> mac = stackalloc byte[64];
            var macLength = encryption == ContentEncryption.A256CbcHs512
                ? HMACSHA512.HashData(macKey, macInput, mac)
                : HMACSHA256.HashData(macKey, macInput, mac);
            if (!CryptographicOperations.FixedTimeEquals(mac[..(macLength / 2)], tag))
            {
                return null;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        try
        {
            return key.CbcCipher().DecryptCbc(ciphertext, iv, PaddingMode.PKCS7);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }
}

/// <summary>
/// The <c>iss</c>, <c>sub</c> and <c>aud</c> a JWE header may replicate from its claims (RFC 7519
/// 5.3), checked as jose's <c>jwtDecrypt</c> checks them: a header <c>iss</c> or <c>sub</c> must be
/// <c>===</c> the claim, a header <c>aud</c> must <c>JSON.stringify</c> as the claim does.
/// </summary>
internal readonly record struct HeaderClaims(JsonElement? Iss, JsonElement? Sub, JsonElement? Aud)
{
    public static HeaderClaims From(JsonElement header) =>
        new(Copy(header, "iss"u8), Copy(header, "sub"u8), Copy(header, "aud"u8));

    /// <summary>Whether the payload agrees with every replicated claim.</summary>
    public bool MatchedBy(JsonElement payload) =>
        (Iss is not { } iss || JsonText.StrictEquals(iss, JsonText.Member(payload, "iss"u8)))
        && (Sub is not { } sub || JsonText.StrictEquals(sub, JsonText.Member(payload, "sub"u8)))
        && (Aud is not { } aud || (JsonText.Member(payload, "aud"u8) is { } claim && JsonText.Stringify(aud) == JsonText.Stringify(claim)));

    // Cloned: the header's document is disposed once it is parsed.
    private static JsonElement? Copy(JsonElement header, ReadOnlySpan<byte> name) =>
        JsonText.Member(header, name)?.Clone();
}
