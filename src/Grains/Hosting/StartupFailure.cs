using Microsoft.Extensions.Options;
using SessionCache.Client;

namespace SessionCache.Hosting;

/// <summary>
/// Turns a failed start into what an operator needs: the messages (each naming its setting) and
/// an exit code: 2 for configuration, 3 for a dependency that could not be reached.
/// </summary>
public static class StartupFailure
{
    /// <summary>The exit code for <paramref name="exception"/>, or <see langword="null"/> when it is not a start-up failure this library reports.</summary>
    /// <param name="exception">What the host threw.</param>
    /// <returns>2, 3 or <see langword="null"/>.</returns>
    public static int? ExitCode(Exception exception) => Unwrap(exception) switch
    {
        OptionsValidationException => 2,
        SessionCacheStartupException => 3,
        _ => null,
    };

    /// <summary>One line per problem, for standard error.</summary>
    /// <param name="exception">What the host threw.</param>
    /// <returns>The text to print.</returns>
    public static string Describe(Exception exception) => Unwrap(exception) switch
    {
        OptionsValidationException validation => "Cannot start: the configuration is invalid.\n  " + string.Join("\n  ", validation.Failures),
        { } other => "Cannot start: " + other.Message,
    };

    // The host wraps what a hosted service throws when several fail.
    private static Exception Unwrap(Exception exception) =>
        exception is AggregateException { InnerExceptions.Count: 1 } aggregate ? Unwrap(aggregate.InnerExceptions[0]) : exception;
}
