using System.Text;

namespace SessionCache.AuthJs.Internals;

/// <summary>JavaScript's <c>decodeURIComponent</c>: strict UTF-8, fails where JavaScript throws <c>URIError</c>.</summary>
internal static class UriComponent
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static bool TryDecode(string value, out string decoded)
    {
        decoded = value;
        if (!value.Contains('%', StringComparison.Ordinal))
        {
            return true;
        }

        var builder = new StringBuilder(value.Length);
        var bytes = new List<byte>();
        for (var i = 0; i < value.Length;)
        {
            if (value[i] != '%')
            {
                builder.Append(value[i]);
                i++;
                continue;
            }

            bytes.Clear();
            while (i < value.Length && value[i] == '%')
            {
                if (i + 2 >= value.Length || !IsHex(value[i + 1]) || !IsHex(value[i + 2]))
                {
                    return false;
                }

                bytes.Add(Convert.ToByte(value.Substring(i + 1, 2), 16));
                i += 3;
            }

            try
            {
                builder.Append(StrictUtf8.GetString(bytes.ToArray()));
            }
            catch (DecoderFallbackException)
            {
                return false;
            }
        }

        decoded = builder.ToString();
        return true;

        static bool IsHex(char c) => char.IsAsciiHexDigit(c);
    }
}
