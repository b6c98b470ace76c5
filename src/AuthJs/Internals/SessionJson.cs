using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace SessionCache.AuthJs.Internals;

/// <summary>Writes sessions in the shape Auth.js' default <c>session</c> callback returns.</summary>
internal static class SessionJson
{
    /// <summary>JavaScript's <c>Date.prototype.toISOString()</c>: UTC, milliseconds, trailing Z.</summary>
    public static string ToIsoString(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// <c>{"user":{"name","email","image"},"expires"}</c> where each user field is copied from the
    /// given claim as it is; a missing claim is left out, as <c>JSON.stringify</c> leaves out <c>undefined</c>.
    /// </summary>
    public static byte[] Write(JsonElement? name, JsonElement? email, JsonElement? image, string expires)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("user"u8);
            WriteIfPresent(writer, "name"u8, name);
            WriteIfPresent(writer, "email"u8, email);
            WriteIfPresent(writer, "image"u8, image);
            writer.WriteEndObject();
            writer.WriteString("expires"u8, expires);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteIfPresent(Utf8JsonWriter writer, ReadOnlySpan<byte> name, JsonElement? value)
    {
        if (value is { } element)
        {
            writer.WritePropertyName(name);

            // A lone surrogate (a name cut inside an emoji) cannot be written again: its text is kept
            // as the token has it, escaped, as JSON.stringify writes it.
            if (JsonText.IsWellFormed(element))
            {
                element.WriteTo(writer);
            }
            else
            {
                writer.WriteRawValue(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(element));
            }
        }
    }
}
