using System.Buffers.Text;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// JSON read the way jose reads a token's header and claims: bytes through <c>TextDecoder</c>, then
/// <c>JSON.parse</c>, then JavaScript's comparisons. System.Text.Json on its own refuses a BOM,
/// throws on an escaped lone surrogate (which <c>JSON.stringify</c> writes for a string cut inside a
/// surrogate pair, and which is valid JSON) and keeps every one of duplicate members; these helpers
/// read what <c>JSON.parse</c> would have made.
/// </summary>
internal static class JsonText
{
    /// <summary>
    /// <c>TextDecoder</c>'s decode: one leading BOM dropped; invalid UTF-8 refused when
    /// <paramref name="fatal"/> (jose 6 decodes with a fatal decoder) or each invalid sequence
    /// replaced by U+FFFD (jose 4's default decoder; .NET replaces as the WHATWG decoder does).
    /// </summary>
    public static bool TryDecode(byte[] bytes, bool fatal, out byte[] json)
    {
        var text = bytes.AsSpan();
        if (text.StartsWith("\uFEFF"u8))
        {
            text = text[3..];
        }

        if (Utf8.IsValid(text))
        {
            json = text.Length == bytes.Length ? bytes : text.ToArray();
            return true;
        }

        json = fatal ? [] : Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(text));
        return !fatal;
    }

    /// <summary>A member as <c>JSON.parse</c> leaves it: the last of duplicate names, names compared unescaped.</summary>
    public static bool TryGetMember(JsonElement obj, ReadOnlySpan<byte> name, out JsonElement value)
    {
        value = default;
        var found = false;
        foreach (var member in obj.EnumerateObject())
        {
            var raw = JsonMarshal.GetRawUtf8PropertyName(member);
            if (raw.IndexOf((byte)'\\') < 0 ? raw.SequenceEqual(name) : Unescape(raw) == Encoding.UTF8.GetString(name))
            {
                value = member.Value;
                found = true;
            }
        }

        return found;
    }

    /// <summary>A member's value, or <see langword="null"/> (JavaScript's <c>undefined</c>) when there is none.</summary>
    public static JsonElement? Member(JsonElement obj, ReadOnlySpan<byte> name) =>
        TryGetMember(obj, name, out var value) ? value : null;

    /// <summary>A string's value as JavaScript has it, lone surrogates included.</summary>
    public static string GetString(JsonElement element) =>
        Unescape(JsonMarshal.GetRawUtf8Value(element)[1..^1]);

    /// <summary>Whether <paramref name="element"/> is a string equal to <paramref name="value"/>.</summary>
    public static bool IsString(JsonElement element, string value) =>
        element.ValueKind == JsonValueKind.String && GetString(element) == value;

    /// <summary>
    /// Whether System.Text.Json can write the element again: every string and member name in it is
    /// well-formed UTF-16 (no lone surrogate).
    /// </summary>
    public static bool IsWellFormed(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                return IsWellFormed(JsonMarshal.GetRawUtf8Value(element)[1..^1]);
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    if (!IsWellFormed(item))
                    {
                        return false;
                    }
                }

                return true;
            case JsonValueKind.Object:
                foreach (var member in element.EnumerateObject())
                {
                    if (!IsWellFormed(JsonMarshal.GetRawUtf8PropertyName(member)) || !IsWellFormed(member.Value))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return true;
        }
    }

    /// <summary>
    /// JavaScript's <c>a === b</c> between two values <c>JSON.parse</c> made (<paramref name="b"/>
    /// <see langword="null"/>: <c>undefined</c>): strings by their UTF-16 code units, numbers by the
    /// doubles they parse to; an object or array is never <c>===</c> another.
    /// </summary>
    public static bool StrictEquals(JsonElement a, JsonElement? b)
    {
        if (b is not { } other || other.ValueKind != a.ValueKind)
        {
            return false;
        }

        return a.ValueKind switch
        {
            JsonValueKind.String => string.Equals(GetString(a), GetString(other), StringComparison.Ordinal),
            JsonValueKind.Number => a.GetDouble() == other.GetDouble(),
            JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null => true,
            _ => false,
        };
    }

    /// <summary>
    /// <c>JSON.stringify</c> of what <c>JSON.parse</c> makes of the element, in a form that is equal
    /// exactly when those texts are: numbers as the doubles they parse to (not finite: <c>null</c>),
    /// object members in the order JavaScript keeps them (array-index names in ascending order, then
    /// the others in order of first appearance, a repeated name keeping its first place and its last value).
    /// </summary>
    public static string Stringify(JsonElement element)
    {
        var builder = new StringBuilder();
        Stringify(element, builder);
        return builder.ToString();
    }

    private static void Stringify(JsonElement element, StringBuilder builder)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                Quote(GetString(element), builder);
                break;
            case JsonValueKind.Number:
                var number = element.GetDouble();
                builder.Append(!double.IsFinite(number) ? "null" : number == 0 ? "0" : number.ToString("R", CultureInfo.InvariantCulture));
                break;
            case JsonValueKind.Array:
                builder.Append('[');
                var first = true;
                foreach (var item in element.EnumerateArray())
                {
                    builder.Append(first ? string.Empty : ",");
                    first = false;
                    Stringify(item, builder);
                }

                builder.Append(']');
                break;
            case JsonValueKind.Object:
                var members = new List<(string Name, JsonElement Value)>();
                var positions = new Dictionary<string, int>(StringComparer.Ordinal);
                foreach (var member in element.EnumerateObject())
                {
                    var name = Unescape(JsonMarshal.GetRawUtf8PropertyName(member));
                    if (positions.TryGetValue(name, out var position))
                    {
                        members[position] = (name, member.Value);
                    }
                    else
                    {
                        positions[name] = members.Count;
                        members.Add((name, member.Value));
                    }
                }

                // A stable sort: array indices first, by value; the rest keep their order.
                var ordered = members.Select(static (m, i) => (Member: m, Index: ArrayIndex(m.Name), Order: i))
                    .OrderBy(static m => m.Index is null)
                    .ThenBy(static m => m.Index ?? 0)
                    .ThenBy(static m => m.Order);
                builder.Append('{');
                var firstMember = true;
                foreach (var (member, _, _) in ordered)
                {
                    builder.Append(firstMember ? string.Empty : ",");
                    firstMember = false;
                    Quote(member.Name, builder);
                    builder.Append(':');
                    Stringify(member.Value, builder);
                }

                builder.Append('}');
                break;
            default:
                builder.Append(element.ValueKind switch { JsonValueKind.True => "true", JsonValueKind.False => "false", _ => "null" });
                break;
        }
    }

    // Only quotes and backslashes need escaping for the text to say which string it is.
    private static void Quote(string value, StringBuilder builder) =>
        builder.Append('"').Append(value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');

    // ECMAScript's array index: the canonical decimal form of an integer below 2^32 - 1.
    private static uint? ArrayIndex(string name)
    {
        if (name.Length is 0 or > 10 || (name.Length > 1 && name[0] == '0') || !name.All(char.IsAsciiDigit))
        {
            return null;
        }

        return ulong.Parse(name, CultureInfo.InvariantCulture) is var index and < uint.MaxValue ? (uint)index : null;
    }

    private static bool IsWellFormed(ReadOnlySpan<byte> raw)
    {
        if (raw.IndexOf((byte)'\\') < 0)
        {
            return true;
        }

        var text = Unescape(raw);
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The string a JSON string literal's content (valid UTF-8, valid escapes) stands for, lone surrogates included.</summary>
    private static string Unescape(ReadOnlySpan<byte> raw)
    {
        var backslash = raw.IndexOf((byte)'\\');
        if (backslash < 0)
        {
            return Encoding.UTF8.GetString(raw);
        }

        var builder = new StringBuilder(raw.Length);
        while (backslash >= 0)
        {
            builder.Append(Encoding.UTF8.GetString(raw[..backslash]));
            var consumed = 2;
            switch (raw[backslash + 1])
            {
                case (byte)'b': builder.Append('\b'); break;
                case (byte)'f': builder.Append('\f'); break;
                case (byte)'n': builder.Append('\n'); break;
                case (byte)'r': builder.Append('\r'); break;
                case (byte)'t': builder.Append('\t'); break;
                case (byte)'u':
                    Utf8Parser.TryParse(raw.Slice(backslash + 2, 4), out ushort unit, out _, 'X');
                    builder.Append((char)unit);
                    consumed = 6;
                    break;
                default: builder.Append((char)raw[backslash + 1]); break;
            }

            raw = raw[(backslash + consumed)..];
            backslash = raw.IndexOf((byte)'\\');
        }

        return builder.Append(Encoding.UTF8.GetString(raw)).ToString();
    }
}
