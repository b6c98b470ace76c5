using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace SessionCache.AuthJs.Internals;

/// <summary>What a request's session cookies come to: nothing to look up, a refusal, or a key.</summary>
internal enum SessionKeyKind
{
    /// <summary>No session cookie and no bearer token: the answer is "no session" without asking anyone.</summary>
    None,

    /// <summary>The cookie header exceeds the configured limit.</summary>
    TooLarge,

    /// <summary>A session to look up.</summary>
    Key,
}

/// <summary>
/// A request reduced to its session credential: the session cookies (and, without any, a bearer
/// token) and the key of the session grain, a SHA-256 of that credential in a canonical form.
/// </summary>
/// <param name="Kind">What the request comes to.</param>
/// <param name="Canonical">The credential in canonical form; the near cache's key. Never logged.</param>
/// <param name="Cookies">The session cookies, decoded, in header order.</param>
/// <param name="Authorization">The bearer authorization, only when there is no session cookie.</param>
internal readonly record struct SessionKey(SessionKeyKind Kind, string Canonical, KeyValuePair<string, string>[] Cookies, string? Authorization)
{
    /// <summary>The grain key: base64url SHA-256 of <see cref="Canonical"/>. Safe to log.</summary>
    public string Hash => SessionKeys.HashOf(Canonical);
}

/// <summary>
/// Picks the session cookies out of requests. A cookie is a session cookie when its name starts
/// with one of the configured session cookie names, as Auth.js' <c>SessionStore</c> decides; its
/// chunks are joined so that a token keys the same grain whether it came whole or in chunks,
/// and so that <see cref="ISessionCache.InvalidateSessionAsync"/> can find it from the token alone.
/// </summary>
internal sealed class SessionKeys
{
    /// <summary>The names Auth.js v5 and NextAuth.js v4 use, with and without the secure prefix.</summary>
    public static readonly IReadOnlyList<string> StandardCookieNames =
        ["__Secure-authjs.session-token", "authjs.session-token", "__Secure-next-auth.session-token", "next-auth.session-token"];

    private readonly string[] _names;
    private readonly int _maxCookieHeaderLength;

    public SessionKeys(IEnumerable<string> extraCookieNames, int maxCookieHeaderLength)
    {
        // Longest first, so that a cookie belongs to the most specific name it starts with.
        _names = [.. StandardCookieNames.Concat(extraCookieNames).Where(static n => !string.IsNullOrEmpty(n)).Distinct(StringComparer.Ordinal).OrderByDescending(static n => n.Length)];
        _maxCookieHeaderLength = maxCookieHeaderLength;
    }

    /// <summary>The session cookie names, longest first.</summary>
    public IReadOnlyList<string> CookieNames => _names;

    public SessionKey Select(SessionRequest request)
    {
        if (request.CookieHeader is { } header && header.Length > _maxCookieHeaderLength)
        {
            return new(SessionKeyKind.TooLarge, string.Empty, [], null);
        }

        List<KeyValuePair<string, string>>? cookies = null;
        foreach (var cookie in CookieReader.Enumerate(request))
        {
            if (cookie.Value.Length > 0 && BaseName(cookie.Key) is not null)
            {
                (cookies ??= new(2)).Add(cookie);
            }
        }

        if (cookies is null)
        {
            // Auth.js' getToken falls back to "Authorization: Bearer <token>" only without a cookie.
            if (request.Authorization is { } authorization && authorization.StartsWith("Bearer", StringComparison.Ordinal)
                && (authorization.Length == 6 || authorization[6] == ' '))
            {
                return new(SessionKeyKind.Key, "Authorization\n" + authorization, [], authorization);
            }

            return new(SessionKeyKind.None, string.Empty, [], null);
        }

        return new(SessionKeyKind.Key, Canonical(cookies), [.. cookies], null);
    }

    /// <summary>
    /// The common case without allocating: a <c>Cookie</c> header holding exactly one session cookie,
    /// whole (not in chunks) and with nothing to percent-decode. Its canonical form is then
    /// <c>name=value\n</c> with <paramref name="name"/> and the value at <paramref name="valueStart"/>
    /// (<paramref name="valueLength"/> characters) of the header, as <see cref="Select"/> would build
    /// it. Anything else (chunks, several session cookies, a repeated or empty one, '%') answers
    /// <see langword="false"/>, and <see cref="Select"/> decides. Walks the header as
    /// <see cref="CookieReader.Parse"/> does.
    /// </summary>
    public bool TryLocateSingleSessionCookie(string header, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? name, out int valueStart, out int valueLength)
    {
        name = null;
        valueStart = valueLength = 0;
        if (header.Length > _maxCookieHeaderLength)
        {
            return false;
        }

        foreach (var pair in CookieReader.Pairs(header))
        {
            var key = header.AsSpan(pair.KeyStart, pair.KeyLength);
            if (BaseName(key) is { } baseName)
            {
                var value = header.AsSpan(pair.ValueStart, pair.ValueLength);

                // A second session cookie (or a repeat, or a chunk): the general path joins and orders them.
                if (name is not null || !key.SequenceEqual(baseName) || value.IsEmpty || value.Contains('%'))
                {
                    return false;
                }

                name = baseName;
                valueStart = pair.ValueStart;
                valueLength = pair.ValueLength;
            }
        }

        return name is not null;
    }

    /// <summary>The canonical credential of a bare token, for each cookie name it could have come under.</summary>
    public IEnumerable<string> CanonicalFormsOfToken(string token) => _names.Select(name => name + "=" + token + "\n");

    /// <summary>
    /// The key of a user's grain. Grain ids appear in Orleans' own log lines, its dashboard and the
    /// grain storage's keys, and a user id can be an e-mail address: they see only this hash.
    /// </summary>
    public static string UserKeyOf(string userId) => HashOf("user\n" + userId);

    /// <summary>
    /// The name a sign-out notice gives a user's cached sign-out status (<paramref name="userKey"/>
    /// from <see cref="UserKeyOf"/>); no session grain has it.
    /// </summary>
    public static string SignOutStatusKeyOf(string userKey) => HashOf("signouts\n" + userKey);

    public static string HashOf(string canonical)
    {
        var length = Encoding.UTF8.GetMaxByteCount(canonical.Length);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var written = Encoding.UTF8.GetBytes(canonical, rented);
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(rented.AsSpan(0, written), hash);
            return Convert.ToBase64String(hash).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented, clearArray: true);
        }
    }

    private string? BaseName(ReadOnlySpan<char> cookieName)
    {
        foreach (var name in _names)
        {
            if (cookieName.StartsWith(name, StringComparison.Ordinal))
            {
                return name;
            }
        }

        return null;
    }

    /// <summary>"name=token\n" per session cookie name, chunks joined in Auth.js' order, names sorted.</summary>
    private string Canonical(List<KeyValuePair<string, string>> cookies)
    {
        if (cookies.Count == 1 && BaseName(cookies[0].Key) is { } only)
        {
            return string.Concat(only, "=", cookies[0].Value, "\n");
        }

        var builder = new StringBuilder();
        foreach (var group in cookies.GroupBy(c => BaseName(c.Key)!, StringComparer.Ordinal).OrderBy(static g => g.Key, StringComparer.Ordinal))
        {
            var chunks = group.ToList();
            CookieReader.SortChunks(chunks);
            builder.Append(group.Key).Append('=');
            foreach (var chunk in chunks)
            {
                builder.Append(chunk.Value);
            }

            builder.Append('\n');
        }

        return builder.ToString();
    }
}
