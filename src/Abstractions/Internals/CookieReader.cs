namespace SessionCache.AuthJs.Internals;

/// <summary>
/// Reads cookies the way Auth.js does: its vendored <c>cookie.parse</c> (first occurrence of a name
/// wins, values percent-decoded when they contain '%', malformed escapes kept as they are) and its
/// <c>SessionStore</c> (every non-empty cookie whose name starts with the session cookie's name is a
/// chunk; chunks are joined in the order of the number after the last dot).
/// </summary>
internal static class CookieReader
{
    /// <summary>
    /// The session token carried under <paramref name="cookieName"/>, reassembled from its chunks,
    /// or the empty string when there is none.
    /// </summary>
    public static string ReadSessionToken(SessionRequest request, string cookieName)
    {
        List<KeyValuePair<string, string>>? chunks = null;
        foreach (var (name, value) in Enumerate(request))
        {
            if (value.Length == 0 || !name.StartsWith(cookieName, StringComparison.Ordinal))
            {
                continue;
            }

            chunks ??= new List<KeyValuePair<string, string>>(2);
            chunks.Add(new(name, value));
        }

        if (chunks is null)
        {
            return string.Empty;
        }

        if (chunks.Count == 1)
        {
            return chunks[0].Value;
        }

        SortChunks(chunks);
        return string.Concat(chunks.Select(static c => c.Value));
    }

    /// <summary>The cookies of a request in header order, first occurrence of each name only.</summary>
    public static IEnumerable<KeyValuePair<string, string>> Enumerate(SessionRequest request)
    {
        if (request.Cookies is { } pairs)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var pair in pairs)
            {
                if (pair.Key is not null && seen.Add(pair.Key))
                {
                    yield return new(pair.Key, pair.Value ?? string.Empty);
                }
            }

            yield break;
        }

        if (request.CookieHeader is { Length: >= 2 } header)
        {
            foreach (var pair in Parse(header))
            {
                yield return pair;
            }
        }
    }

    /// <summary>Parses a <c>Cookie</c> header exactly as Auth.js' vendored <c>cookie.parse</c>.</summary>
    public static List<KeyValuePair<string, string>> Parse(string header)
    {
        var result = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pair in Pairs(header))
        {
            var key = header.Substring(pair.KeyStart, pair.KeyLength);
            if (seen.Add(key))
            {
                result.Add(new(key, Decode(header.Substring(pair.ValueStart, pair.ValueLength))));
            }
        }

        return result;
    }

    /// <summary>
    /// Where the name/value pairs of a <c>Cookie</c> header are, walked as <c>cookie.parse</c> walks
    /// them (trimmed, every occurrence, nothing decoded), without allocating.
    /// </summary>
    public static PairWalker Pairs(string header) => new(header);

    /// <summary>One name/value pair of a header, as positions in it.</summary>
    internal readonly record struct CookiePair(int KeyStart, int KeyLength, int ValueStart, int ValueLength);

    /// <summary>The walk of <see cref="Pairs"/>; a struct enumerator, for <c>foreach</c> without allocating.</summary>
    internal struct PairWalker(string header)
    {
        private int _index;

        public readonly PairWalker GetEnumerator() => this;

        public CookiePair Current { get; private set; }

        public bool MoveNext()
        {
            var length = header.Length;
            while (length >= 2 && _index < length)
            {
                var eqIdx = header.IndexOf('=', _index);
                if (eqIdx == -1)
                {
                    _index = length;
                    return false;
                }

                var semicolonIdx = header.IndexOf(';', _index);
                var endIdx = semicolonIdx == -1 ? length : semicolonIdx;
                if (eqIdx > endIdx)
                {
                    // A pair without '=': resume after the last ';' before the next '='.
                    _index = header.LastIndexOf(';', eqIdx - 1) + 1;
                    continue;
                }

                var keyStart = StartIndex(header, _index, eqIdx);
                var keyEnd = EndIndex(header, eqIdx, keyStart);
                var valueStart = StartIndex(header, eqIdx + 1, endIdx);
                var valueEnd = EndIndex(header, endIdx, valueStart);
                Current = new CookiePair(keyStart, keyEnd - keyStart, valueStart, valueEnd - valueStart);
                _index = endIdx + 1;
                return true;
            }

            return false;
        }
    }

    private static int StartIndex(string s, int index, int max)
    {
        do
        {
            // JavaScript's charCodeAt past the end is NaN, which is not white space.
            if (index >= s.Length)
            {
                return index;
            }

            var c = s[index];
            if (c != ' ' && c != '\t')
            {
                return index;
            }
        }
        while (++index < max);
        return max;
    }

    private static int EndIndex(string s, int index, int min)
    {
        while (index > min)
        {
            var c = s[--index];
            if (c != ' ' && c != '\t')
            {
                return index + 1;
            }
        }

        return min;
    }

    /// <summary>JavaScript's <c>decodeURIComponent</c>, returning the input unchanged where that would throw.</summary>
    private static string Decode(string value)
    {
        if (!value.Contains('%', StringComparison.Ordinal))
        {
            return value;
        }

        return UriComponent.TryDecode(value, out var decoded) ? decoded : value;
    }

    /// <summary>
    /// Orders chunks like <c>SessionStore</c>: by <c>parseInt</c> of the part after the last dot, stably;
    /// a name without a number compares equal to everything, as JavaScript's sort treats <c>NaN</c>.
    /// </summary>
    internal static void SortChunks(List<KeyValuePair<string, string>> chunks)
    {
        var keys = chunks.Select(static c => JavaScriptParseInt(c.Key[(c.Key.LastIndexOf('.') + 1)..])).ToArray();
        var items = chunks.ToArray();
        for (var i = 1; i < items.Length; i++)
        {
            var item = items[i];
            var key = keys[i];
            var j = i - 1;
            while (j >= 0 && Compare(keys[j], key) > 0)
            {
                items[j + 1] = items[j];
                keys[j + 1] = keys[j];
                j--;
            }

            items[j + 1] = item;
            keys[j + 1] = key;
        }

        chunks.Clear();
        chunks.AddRange(items);

        static int Compare(double a, double b) => double.IsNaN(a) || double.IsNaN(b) ? 0 : a.CompareTo(b);
    }

    /// <summary>JavaScript's <c>parseInt(s)</c> with no radix; <see cref="double.NaN"/> where it gives NaN.</summary>
    internal static double JavaScriptParseInt(string s)
    {
        var i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i]))
        {
            i++;
        }

        var sign = 1;
        if (i < s.Length && (s[i] == '+' || s[i] == '-'))
        {
            sign = s[i] == '-' ? -1 : 1;
            i++;
        }

        var radix = 10;
        if (i + 1 < s.Length && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X'))
        {
            radix = 16;
            i += 2;
        }

        double value = 0;
        var digits = 0;
        for (; i < s.Length; i++)
        {
            var digit = HexDigit(s[i]);
            if (digit < 0 || digit >= radix)
            {
                break;
            }

            value = (value * radix) + digit;
            digits++;
        }

        return digits == 0 ? double.NaN : sign * value;

        static int HexDigit(char c) => c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'a' and <= 'f' => c - 'a' + 10,
            >= 'A' and <= 'F' => c - 'A' + 10,
            _ => -1,
        };
    }
}
