using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using SessionCache.AuthJs;

namespace SessionCache.Cli;

/// <summary>
/// <c>invalidate</c>: signs a user, or one session, out across the cluster. It returns once no
/// silo or client serves those sessions any more (see docs/design.md, "Sign-out guarantee").
/// </summary>
internal sealed class InvalidateCommand
{
    private readonly CliCommands _cli;

    private readonly Option<string> _user = new("--user")
    {
        Description = "Sign this user out everywhere: the user id as Auth.js reports it (token.sub, the adapter's userId).",
        HelpName = "id",
    };

    private readonly Option<string> _token = new("--token")
    {
        Description = "Sign this one session out: the session token (the session cookie's value, or a database sessionToken); "
            + $"'-' reads it from standard input. Without --user or --token: {CliCommands.TokenVariable}.",
        HelpName = "token",
    };

    public InvalidateCommand(CliCommands cli)
    {
        _cli = cli;
        Command = new Command("invalidate", "Signs a user (--user) or one session (--token) out across the cluster. Exit 0: done; 3: the cluster could not be reached or the sign-out failed.")
        {
            _user, _token,
        };
        cli.RequireExactlyOneOrTheEnvironmentToken(Command, _user, _token);
        Command.SetAction(RunAsync);
    }

    public Command Command { get; }

    private async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var user = parsed.GetValue(_user);
        var token = await _cli.ValueOrStandardInputAsync(parsed.GetValue(_token), "--token", cancellationToken);
        if (user is null && token is null)
        {
            token = _cli.EnvironmentToken;
        }

        if (string.IsNullOrEmpty(user) && string.IsNullOrEmpty(token))
        {
            throw new CliFailure(ExitCodes.Usage, "The user id or token is empty.");
        }

        if (user is { Length: > SessionCacheLimits.MaxUserIdLength })
        {
            throw new CliFailure(ExitCodes.Usage, $"A user id is at most {SessionCacheLimits.MaxUserIdLength} characters; got {user.Length}.");
        }

        if (token is { Length: > SessionCacheLimits.MaxTokenLength })
        {
            throw new CliFailure(ExitCodes.Usage, $"A session token is at most {SessionCacheLimits.MaxTokenLength} characters; got {token.Length}.");
        }

        await using var connection = await _cli.ConnectAsync(parsed, null, cancellationToken);
        var sessions = connection.Services.GetRequiredService<ISessionCache>();
        try
        {
            if (user is not null)
            {
                await sessions.InvalidateUserAsync(user, cancellationToken);
                await _cli.Stderr.WriteLineAsync($"Signed out user '{user}' everywhere: no silo or client serves their sessions any more.");
            }
            else
            {
                await sessions.InvalidateSessionAsync(token!, cancellationToken);
                await _cli.Stderr.WriteLineAsync("Signed out the session everywhere: no silo or client serves it any more.");
            }

            return ExitCodes.Success;
        }
        catch (Exception exception) when (exception is SessionUnavailableException or OrleansException or TimeoutException)
        {
            // The sign-out may or may not have taken effect; it is idempotent, so running it again is the fix.
            // Only the session API's own messages are quoted (they name what failed, never whose
            // sign-out it was); Orleans' and Redis' are not.
            var failure = exception is SessionUnavailableException ? exception.Message : CliFailure.Describe(exception);
            throw new CliFailure(ExitCodes.Unavailable, $"The sign-out failed ({failure}); it is safe to run it again.");
        }
    }
}
