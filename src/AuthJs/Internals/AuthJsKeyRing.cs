using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace SessionCache.AuthJs.Internals;

/// <summary>A content key derived from a secret, with its JWK thumbprint (the <c>kid</c> Auth.js writes).</summary>
internal sealed class DerivedKey(byte[] key, string thumbprint)
{
    // Creating an AES context costs more than decrypting a session cookie, and an Aes instance is
    // not safe to share between threads: keep one per thread per key.
    private readonly ThreadLocal<Aes> _cbcCipher = new(() =>
    {
        var aes = Aes.Create();
        aes.Key = key.AsSpan(key.Length / 2).ToArray();
        return aes;
    });

    public byte[] Key { get; } = key;

    public string Thumbprint { get; } = thumbprint;

    /// <summary>AES keyed with the second half of the key, the encryption key of the CBC-HMAC algorithms.</summary>
    public Aes CbcCipher() => _cbcCipher.Value!;
}

/// <summary>
/// Derives and remembers the content keys, so that a lookup does no key derivation:
/// Auth.js v5 keys are HKDF-SHA256(secret, salt = cookie name, info =
/// <c>Auth.js Generated Encryption Key (&lt;salt&gt;)</c>), 64 bytes for <c>A256CBC-HS512</c> and 32 for
/// <c>A256GCM</c>; NextAuth.js v4's is HKDF-SHA256(secret, empty salt, info =
/// <c>NextAuth.js Generated Encryption Key</c>), 32 bytes.
/// </summary>
internal sealed class AuthJsKeyRing(AuthJsSecrets secrets)
{
    // A ring holds one entry per cookie name and algorithm actually seen; cookie names come from
    // configuration, never from requests, so this stays small.
    private readonly ConcurrentDictionary<(string Salt, ContentEncryption Encryption), DerivedKey[]> _authJsKeys = new();
    private readonly Lazy<DerivedKey?> _nextAuthV4Key = new(() => secrets.ForNextAuthV4 is { } secret
        ? Derive(secret, string.Empty, "NextAuth.js Generated Encryption Key", 32)
        : null);

    /// <summary>Auth.js v5 keys for a cookie name and algorithm, in secret order (the first one encrypts).</summary>
    public DerivedKey[] ForAuthJs(string salt, ContentEncryption encryption) =>
        _authJsKeys.GetOrAdd((salt, encryption), static (k, s) => s.ForAuthJs
            .Select(secret => Derive(secret, k.Salt, $"Auth.js Generated Encryption Key ({k.Salt})", JweToken.KeyLength(k.Encryption)))
            .ToArray(), secrets);

    /// <summary>The NextAuth.js v4 key, or <see langword="null"/> without a v4 secret.</summary>
    public DerivedKey? ForNextAuthV4 => _nextAuthV4Key.Value;

    private static DerivedKey Derive(string secret, string salt, string info, int length)
    {
        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), length, Encoding.UTF8.GetBytes(salt), Encoding.UTF8.GetBytes(info));

        // RFC 7638 thumbprint of {"kty":"oct","k":...}: required members in lexicographic order,
        // hashed with SHA-(key bits) as Auth.js does.
        var jwk = Encoding.UTF8.GetBytes($"{{\"k\":\"{Base64Url.EncodeToString(key)}\",\"kty\":\"oct\"}}");
        var digest = length == 64 ? SHA512.HashData(jwk) : SHA256.HashData(jwk);
        return new DerivedKey(key, Base64Url.EncodeToString(digest));
    }
}
