using System.Text;

namespace SessionCache.Cli;

/// <summary>
/// Secrets that stay off the command line (where <c>ps</c> and shell histories show them): an
/// option given as <c>-</c> reads its value from standard input, one line, and at most one option
/// can do so per run. On a terminal the value is typed after a prompt on stderr, without echo.
/// </summary>
internal sealed class SecretInput(TextReader input, TextWriter prompt, bool isTerminal)
{
    /// <summary>The value of an option that means "read it from standard input".</summary>
    public const string StandardInput = "-";

    private string? _readFor;

    /// <summary>Reads the value of <paramref name="option"/> (e.g. <c>--token</c>) from standard input.</summary>
    /// <exception cref="CliFailure">Standard input was read already, or was empty (exit code 2).</exception>
    public async Task<string> ReadAsync(string option, CancellationToken cancellationToken)
    {
        if (_readFor is not null)
        {
            throw new CliFailure(ExitCodes.Usage, $"{_readFor} - and {option} - both read standard input, which carries one value; give the other in its environment variable (see --help).");
        }

        _readFor = option;
        string? line;
        if (isTerminal)
        {
            await prompt.WriteAsync($"{option} (not shown; Enter to end): ");
            await prompt.FlushAsync(cancellationToken);
            line = await Task.Run(ReadWithoutEcho, cancellationToken).WaitAsync(cancellationToken);
            await prompt.WriteLineAsync();
        }
        else
        {
            line = await input.ReadLineAsync(cancellationToken);
        }

        if (string.IsNullOrEmpty(line))
        {
            throw new CliFailure(ExitCodes.Usage, $"{option} - reads the value from standard input, which was empty.");
        }

        return line;
    }

    private static string ReadWithoutEcho()
    {
        var value = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                return value.ToString();
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                value.Length = Math.Max(0, value.Length - 1);
            }
            else if (!char.IsControl(key.KeyChar))
            {
                value.Append(key.KeyChar);
            }
        }
    }
}
