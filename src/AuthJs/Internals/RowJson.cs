using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Npgsql;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// A database row as node-postgres hands it to an adapter: integers and floats as numbers, bigint
/// and numeric as strings, json as values, dates as dates (named in <see cref="DatabaseRow.DateColumns"/>,
/// written as ISO strings), arrays as arrays.
/// </summary>
internal static class RowJson
{
    public static DatabaseRow Read(NpgsqlDataReader reader)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        var dates = new List<string>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            for (var i = 0; i < reader.FieldCount; i++)
            {
                var name = reader.GetName(i);
                writer.WritePropertyName(name);
                if (reader.IsDBNull(i))
                {
                    writer.WriteNullValue();
                    continue;
                }

                var type = reader.GetDataTypeName(i);
                if (type is "json" or "jsonb")
                {
                    writer.WriteRawValue(reader.GetString(i));
                    continue;
                }

                object value;
                try
                {
                    value = reader.GetValue(i);
                }
                catch (Exception exception) when (exception is InvalidCastException or NotSupportedException)
                {
                    // A type Npgsql has no mapping for: the callback sees null rather than no session.
                    writer.WriteNullValue();
                    continue;
                }

                if (value is DateTime or DateTimeOffset)
                {
                    dates.Add(name);
                }

                Write(writer, value);
            }

            writer.WriteEndObject();
        }

        return new DatabaseRow(buffer.WrittenSpan.ToArray(), [.. dates]);
    }

    private static void Write(Utf8JsonWriter writer, object value)
    {
        switch (value)
        {
            case string text:
                writer.WriteStringValue(text);
                break;
            case bool flag:
                writer.WriteBooleanValue(flag);
                break;
            case short number:
                writer.WriteNumberValue(number);
                break;
            case int number:
                writer.WriteNumberValue(number);
                break;
            case float number when float.IsFinite(number):
                // Shortest round-trip text, as node-postgres parses real's text: 0.1, not 0.10000000149011612.
                writer.WriteNumberValue(number);
                break;
            case double number when double.IsFinite(number):
                writer.WriteNumberValue(number);
                break;
            case float or double:
                // NaN and the infinities: JSON.stringify writes null for them.
                writer.WriteNullValue();
                break;
            case byte[] bytes:
                // bytea's text form; node-postgres makes a Buffer of it.
                writer.WriteStringValue("\\x" + Convert.ToHexStringLower(bytes));
                break;
            case DateTime date:
                writer.WriteStringValue(SessionJson.ToIsoString(new DateTimeOffset(DateTime.SpecifyKind(date, DateTimeKind.Utc))));
                break;
            case DateTimeOffset date:
                writer.WriteStringValue(SessionJson.ToIsoString(date));
                break;
            case Array array:
                writer.WriteStartArray();
                foreach (var item in array)
                {
                    if (item is null or DBNull)
                    {
                        writer.WriteNullValue();
                    }
                    else
                    {
                        Write(writer, item);
                    }
                }

                writer.WriteEndArray();
                break;
            default:
                // bigint, numeric, uuid, and the rest: node-postgres hands them over as their text.
                writer.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }
}
