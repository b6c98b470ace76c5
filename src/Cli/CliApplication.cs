using System.CommandLine;
using System.CommandLine.Invocation;
using Microsoft.Extensions.Configuration;

namespace SessionCache.Cli;

/// <summary>
/// <c>sessioncache</c>: the cluster's command-line client. Parses the command line, connects as
/// an Orleans client configured like any other (environment variables, then the global options)
/// and runs one command. Results go to stdout, everything else to stderr; the exit code is the
/// contract in <see cref="ExitCodes"/>.
/// </summary>
internal static class CliApplication
{
    // Arguments at least this long are hidden when an error message quotes them: they are tokens,
    // cookies or connection strings far more often than mistyped words.
    private const int HiddenArgumentLength = 20;

    /// <summary>Runs one command line and returns the process exit code.</summary>
    /// <param name="args">The command line, without the program name.</param>
    /// <param name="stdout">Where results go (the session JSON, the status).</param>
    /// <param name="stderr">Where messages and Orleans' warnings go.</param>
    /// <param name="cancellationToken">Cancels the run (Ctrl+C).</param>
    /// <param name="environment">
    /// The environment's configuration; <see langword="null"/> for the process' environment
    /// variables (<c>Cluster__Gateways__0</c>, ...), as ASP.NET Core reads them.
    /// </param>
    /// <param name="stdin">
    /// Where <c>--token -</c>, <c>--cookie -</c> and <c>--redis-password -</c> read; <see langword="null"/>
    /// for the console's (typed without echo on a terminal).
    /// </param>
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken, IConfiguration? environment = null, TextReader? stdin = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        // Orleans logs from its own threads while a command writes its messages.
        stderr = TextWriter.Synchronized(stderr);
        environment ??= new ConfigurationBuilder().AddEnvironmentVariables().Build();
        var input = stdin is null ? new SecretInput(Console.In, stderr, isTerminal: !Console.IsInputRedirected) : new SecretInput(stdin, stderr, isTerminal: false);
        var commands = new CliCommands(stdout, stderr, environment, input);
        var parsed = commands.Root.Parse(args);
        if (parsed.Action is ParseErrorAction)
        {
            foreach (var error in parsed.Errors)
            {
                await stderr.WriteLineAsync("error: " + Redact(error.Message, args));
            }

            var command = parsed.CommandResult.Command;
            var name = command is RootCommand ? "sessioncache" : $"sessioncache {command.Name}";
            await stderr.WriteLineAsync($"Run '{name} --help' for usage.");
            return ExitCodes.Usage;
        }

        var invocation = new InvocationConfiguration
        {
            Output = stdout,
            Error = stderr,
            // Program.cs owns Ctrl+C and passes it in as the token; in-process callers (the tests)
            // must not get process-wide signal handlers.
            ProcessTerminationTimeout = null,
            // Commands turn every expected failure into a message and an exit code.
            EnableDefaultExceptionHandler = false,
        };
        try
        {
            return await parsed.InvokeAsync(invocation, cancellationToken);
        }
        catch (CliFailure failure)
        {
            await stderr.WriteLineAsync(failure.Message);
            return failure.ExitCode;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await stderr.WriteLineAsync("Cancelled.");
            return ExitCodes.Cancelled;
        }
        catch (Exception exception)
        {
            // Whatever the commands did not expect (a timeout inside a call included): a message, not a stack trace, and "it failed".
            // By type, never the message: it may quote a token, a cookie or a Redis connection string.
            await stderr.WriteLineAsync($"sessioncache failed: {CliFailure.Describe(exception)}.");
            return ExitCodes.Unavailable;
        }
    }

    /// <summary>Hides long arguments quoted by a parse error ("Unrecognized command or argument 'eyJ...'").</summary>
    private static string Redact(string message, string[] args)
    {
        // "--token=<value>" and "--token:<value>" carry the value in the option's own argument.
        var values = args.Select(static a => a.StartsWith('-') && a.IndexOfAny(['=', ':']) is var at and > 0 ? a[(at + 1)..] : a);
        foreach (var arg in values.Where(static a => a.Length >= HiddenArgumentLength && !a.StartsWith('-')).OrderByDescending(static a => a.Length))
        {
            message = message.Replace(arg, $"<{arg.Length} characters, not shown>", StringComparison.Ordinal);
        }

        return message;
    }
}
