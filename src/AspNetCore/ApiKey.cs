using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace SessionCache.AspNetCore;

/// <summary>
/// The <c>SessionCache:ApiKey</c> check shared by the invalidation endpoint and the dashboard: one
/// way of comparing, in constant time, wherever a key or a proof of it is compared.
/// </summary>
internal static class ApiKey
{
    /// <summary>Whether the request carries <c>Authorization: Bearer &lt;apiKey&gt;</c>.</summary>
    public static bool IsPresentedBy(HttpRequest request, string apiKey)
    {
        var header = request.Headers.Authorization.ToString();
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return Matches(header[Scheme.Length..].Trim(), apiKey);
    }

    /// <summary>
    /// Whether <paramref name="presented"/> is <paramref name="expected"/>, in a time that depends
    /// on neither their contents nor their lengths: both sides are hashed (SHA-256 of their UTF-8
    /// bytes) and the hashes compared with <see cref="CryptographicOperations.FixedTimeEquals"/>.
    /// An empty <paramref name="expected"/> matches nothing: no key set is no access.
    /// </summary>
    public static bool Matches(string? presented, string? expected) =>
        !string.IsNullOrEmpty(expected) && CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(presented ?? string.Empty)),
            SHA256.HashData(Encoding.UTF8.GetBytes(expected)));
}
