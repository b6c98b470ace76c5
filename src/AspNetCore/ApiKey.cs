using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace SessionCache.AspNetCore;

/// <summary>The <c>SessionCache:ApiKey</c> check shared by the invalidation endpoint and the dashboard.</summary>
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

        // Hash both sides so that the comparison takes the same time whatever the lengths.
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim()));
        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));
        return CryptographicOperations.FixedTimeEquals(presented, expected);
    }
}
