using System.Text.Json;

namespace SessionCache.AuthJs.Internals;

/// <summary>Dotted paths into JSON (<c>user.id</c>, <c>org.role</c>): how settings name session fields and claims.</summary>
internal static class JsonPath
{
    /// <summary>The element at the path, split into segments, if every step is an object member.</summary>
    public static bool TryGet(JsonElement root, ReadOnlySpan<string> segments, out JsonElement value)
    {
        value = root;
        foreach (var segment in segments)
        {
            if (value.ValueKind != JsonValueKind.Object || !value.TryGetProperty(segment, out value))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The element at a dotted path, if every step is an object member.</summary>
    public static bool TryGet(JsonElement root, string path, out JsonElement value) => TryGet(root, path.Split('.'), out value);
}
