using System.Text.RegularExpressions;

namespace SessionCache.AuthJs.Internals;

/// <summary>Turns a configured table name (<c>sessions</c>, <c>auth.sessions</c>) into a quoted SQL identifier.</summary>
internal static partial class SqlIdentifier
{
    public static bool TryQuote(string? name, out string quoted)
    {
        quoted = string.Empty;
        if (string.IsNullOrEmpty(name) || !Pattern().IsMatch(name))
        {
            return false;
        }

        quoted = string.Join('.', name.Split('.').Select(static part => $"\"{part}\""));
        return true;
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_$]{0,62}(\.[A-Za-z_][A-Za-z0-9_$]{0,62})?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
