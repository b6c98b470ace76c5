namespace SessionCache.AuthJs.Internals;

/// <summary>Names what failed without quoting exception messages.</summary>
internal static class ExceptionNames
{
    /// <summary>
    /// The exception and its causes by type, outermost first ("OrleansException &gt;
    /// RedisStorageException &gt; RedisConnectionException"). Messages are left out on purpose: Orleans'
    /// name the grain, and a user grain is named by the user id (which can be an e-mail address);
    /// Redis' name the key, which holds it too.
    /// </summary>
    public static string Chain(Exception exception)
    {
        var names = new List<string>(4);
        for (var current = exception; current is not null && names.Count < 6; current = current.InnerException)
        {
            names.Add(current.GetType().Name);
        }

        return string.Join(" > ", names);
    }
}
