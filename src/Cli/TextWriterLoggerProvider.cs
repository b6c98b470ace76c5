using Microsoft.Extensions.Logging;

namespace SessionCache.Cli;

/// <summary>
/// Writes log entries (Orleans' and the client library's, Warning and above by default) to the
/// CLI's stderr, one line each and without stack traces: stdout carries only the command's result,
/// so that <c>sessioncache lookup ... | jq</c> works. A writer rather than <c>Console.Error</c> so
/// that the CLI can run in process, as its tests do. A line already written is not written again:
/// while waiting for a gateway, Orleans warns of the same refused connection every second.
/// </summary>
internal sealed class TextWriterLoggerProvider(TextWriter writer) : ILoggerProvider
{
    private readonly HashSet<string> _written = new(StringComparer.Ordinal);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Write(string line)
    {
        lock (_written)
        {
            if (_written.Add(line))
            {
                writer.WriteLine(line);
            }
        }
    }

    private sealed class Logger(TextWriterLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(state, exception);
            if (exception is not null)
            {
                // By type: the message of a Redis exception can quote the connection string.
                message += $" ({CliFailure.Describe(exception)})";
            }

            provider.Write($"{Label(logLevel)}: {category}: {message}");
        }

        private static string Label(LogLevel level) => level switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
    }
}
