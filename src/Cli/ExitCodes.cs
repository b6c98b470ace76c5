namespace SessionCache.Cli;

/// <summary>The process exit codes, the contract scripts rely on (see docs/cli.md, "Command-line client").</summary>
internal static class ExitCodes
{
    /// <summary>Done: the session was printed, the sign-out completed, the status was shown.</summary>
    public const int Success = 0;

    /// <summary><c>lookup</c> found no session: none, expired, invalid or signed out (<c>null</c> was printed).</summary>
    public const int NoSession = 1;

    /// <summary>The command line or the configuration is wrong; nothing was attempted.</summary>
    public const int Usage = 2;

    /// <summary>The cluster could not be reached, or it (or the upstream Auth.js/database) failed.</summary>
    public const int Unavailable = 3;

    /// <summary>Interrupted (Ctrl+C), as shells report SIGINT.</summary>
    public const int Cancelled = 130;
}

/// <summary>
/// A command ends early with this exit code and message (written to stderr, never a stack trace).
/// Messages must not carry tokens, cookies or secrets.
/// </summary>
internal sealed class CliFailure : Exception
{
    public CliFailure()
    {
    }

    public CliFailure(string message)
        : base(message)
    {
    }

    public CliFailure(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public CliFailure(int exitCode, string message)
        : base(message)
    {
        ExitCode = exitCode;
    }

    public int ExitCode { get; } = ExitCodes.Unavailable;

    /// <summary>
    /// What failed, for a message: the exception and its causes by type, outermost first
    /// ("OrleansException &gt; RedisConnectionException (AuthenticationFailure)"), with the error
    /// codes of socket and Redis failures. Never their messages: StackExchange.Redis quotes its
    /// configuration (the password included), Orleans names grains, and they go to terminals and CI logs.
    /// </summary>
    public static string Describe(Exception exception)
    {
        var names = new List<string>(4);
        for (var current = exception; current is not null && names.Count < 6; current = current.InnerException)
        {
            var name = current switch
            {
                System.Net.Sockets.SocketException socket => $"{current.GetType().Name} ({socket.SocketErrorCode})",
                StackExchange.Redis.RedisConnectionException redis => $"{current.GetType().Name} ({redis.FailureType})",
                _ => current.GetType().Name,
            };

            // Orleans wraps a failed connection in another of the same type.
            if (names.Count == 0 || names[^1] != name)
            {
                names.Add(name);
            }
        }

        return string.Join(" > ", names);
    }
}
