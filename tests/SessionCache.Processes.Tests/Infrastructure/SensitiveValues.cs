using System.Collections.Concurrent;

namespace SessionCache.Processes.Tests.Infrastructure;

/// <summary>
/// Values no process may ever write to its output: session tokens, cookies, secrets, API keys,
/// e-mail addresses and user ids. The cluster fixture registers each one as it makes it; every line every node
/// prints is checked against all of them.
/// </summary>
internal static class SensitiveValues
{
    private static readonly ConcurrentDictionary<string, string> Values = new(StringComparer.Ordinal);

    /// <summary>Registers <paramref name="value"/>; for a token, a distinctive slice of it is enough to match.</summary>
    public static void Add(string kind, string value)
    {
        // A whole token would only match whole; any 24 characters from its middle give it away too.
        var probe = value.Length > 48 ? value.Substring(value.Length / 2, 24) : value;
        Values.TryAdd(probe, kind);

        // The JSON console formatter escapes some characters ('@' may become \u0040): look for
        // the escaped form too.
        Values.TryAdd(System.Text.Json.JsonEncodedText.Encode(probe).ToString(), kind);
    }

    /// <summary>The kind of the first registered value found in <paramref name="line"/>, or null.</summary>
    public static string? FoundIn(string line)
    {
        foreach (var (value, kind) in Values)
        {
            if (line.Contains(value, StringComparison.Ordinal))
            {
                return kind;
            }
        }

        return null;
    }
}
