using System.CommandLine;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using SessionCache.AuthJs;

namespace SessionCache.Cli;

/// <summary>
/// <c>lookup</c>: what the cluster answers for a request's cookies, as Auth.js' <c>/session</c>
/// would: the session JSON byte for byte, or <c>null</c>.
/// </summary>
internal sealed class LookupCommand
{
    private const string DefaultCookieName = "authjs.session-token";

    private readonly CliCommands _cli;

    private readonly Option<string> _cookie = new("--cookie")
    {
        Description = "The request's Cookie header, e.g. \"authjs.session-token=eyJ...; theme=dark\"; '-' reads it from standard input.",
        HelpName = "header",
    };

    private readonly Option<string> _token = new("--token")
    {
        Description = "A session token: the value of the Auth.js session cookie (chunks joined), or a database session token; "
            + $"'-' reads it from standard input. Without --token or --cookie: {CliCommands.TokenVariable}.",
        HelpName = "token",
    };

    private readonly Option<string> _cookieName = new("--cookie-name")
    {
        Description = $"With --token or {CliCommands.TokenVariable}: the cookie that carries it (default {DefaultCookieName}).",
        HelpName = "name",
    };

    public LookupCommand(CliCommands cli)
    {
        _cli = cli;
        Command = new Command("lookup", "Looks a session up through the cluster and prints its JSON, or null. Exit 0: a session; 1: none (expired, invalid, signed out); 3: cluster or upstream unavailable.")
        {
            _cookie, _token, _cookieName,
        };
        cli.RequireExactlyOneOrTheEnvironmentToken(Command, _cookie, _token);
        Command.Validators.Add(result =>
        {
            if (result.GetResult(_cookieName) is not null && result.GetResult(_cookie) is not null)
            {
                result.AddError("--cookie-name goes with --token; with --cookie, the header names its cookies.");
            }
        });
        Command.SetAction(RunAsync);
    }

    public Command Command { get; }

    private async Task<int> RunAsync(ParseResult parsed, CancellationToken cancellationToken)
    {
        var cookie = await _cli.ValueOrStandardInputAsync(parsed.GetValue(_cookie), "--cookie", cancellationToken);
        var token = await _cli.ValueOrStandardInputAsync(parsed.GetValue(_token), "--token", cancellationToken);
        if (cookie is null && token is null)
        {
            token = _cli.EnvironmentToken;
        }

        var cookieName = parsed.GetValue(_cookieName) ?? DefaultCookieName;
        var request = token is not null
            ? SessionRequest.FromCookies([new(cookieName, token)])
            : SessionRequest.FromCookieHeader(cookie);

        // A renamed session cookie must be known to the client, or the cookie is not a session's
        // (a standard name listed again changes nothing). Any index appends to the list.
        var extra = new List<KeyValuePair<string, string?>>();
        if (token is not null)
        {
            extra.Add(new("SessionCache:CookieNames:" + int.MaxValue.ToString(System.Globalization.CultureInfo.InvariantCulture), cookieName));
        }

        await using var connection = await _cli.ConnectAsync(parsed, extra, cancellationToken);
        var sessions = connection.Services.GetRequiredService<ISessionCache>();
        var result = await sessions.LookupAsync(request, cancellationToken);
        switch (result.Status)
        {
            case SessionLookupStatus.Session:
                await _cli.Stdout.WriteLineAsync(Encoding.UTF8.GetString(result.Session!.Json.Span));
                await _cli.Stdout.FlushAsync(cancellationToken);
                return ExitCodes.Success;
            case SessionLookupStatus.UpstreamError:
                // Never "null": the user may well be signed in.
                await _cli.Stderr.WriteLineAsync($"The session could not be resolved: {result.Reason}{(result.IsRetryable ? " (retryable)" : string.Empty)}.");
                return ExitCodes.Unavailable;
            default:
                await _cli.Stdout.WriteLineAsync("null");
                await _cli.Stdout.FlushAsync(cancellationToken);
                await _cli.Stderr.WriteLineAsync($"No session: {result.Status}{(result.Reason is { } reason ? $" ({reason})" : string.Empty)}.");
                return ExitCodes.NoSession;
        }
    }
}
