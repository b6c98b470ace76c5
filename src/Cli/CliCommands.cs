using System.CommandLine;
using Microsoft.Extensions.Configuration;

namespace SessionCache.Cli;

/// <summary>The command tree, the global options every command shares, and the way commands connect.</summary>
internal sealed class CliCommands
{
    public const int DefaultTimeoutSeconds = 15;

    /// <summary>The session token for <c>lookup</c> and <c>invalidate</c> when neither option names one.</summary>
    public const string TokenVariable = "SESSIONCACHE_TOKEN";

    /// <summary>The Redis password, put into the Redis connection string (<c>--redis</c> or <c>Cluster__ConnectionString</c>).</summary>
    public const string RedisPasswordVariable = "SESSIONCACHE_REDIS_PASSWORD";

    private readonly IConfiguration _environment;

    private readonly Option<string[]> _gateway = new("--gateway")
    {
        Description = "A gateway to connect to, as host:port (repeatable). Replaces Cluster:Gateways. Default: 127.0.0.1:30000, this machine's silo.",
        HelpName = "host:port",
        Recursive = true,
    };

    private readonly Option<string> _redis = new("--redis")
    {
        Description = "Find the gateways in Redis at this connection string (Cluster:Membership=Redis, Cluster:ConnectionString). "
            + $"Keep its password off the command line: {RedisPasswordVariable}, or --redis-password -.",
        HelpName = "connection string",
        Recursive = true,
    };

    private readonly Option<string> _redisPassword = new("--redis-password")
    {
        Description = $"'-': read the Redis password from standard input (one line), for the Redis connection string. Or set {RedisPasswordVariable}.",
        HelpName = "-",
        Recursive = true,
    };

    private readonly Option<string> _clusterId = new("--cluster-id")
    {
        Description = "The cluster's Cluster:ClusterId (default session-cache).",
        HelpName = "id",
        Recursive = true,
    };

    private readonly Option<int> _timeout = new("--timeout")
    {
        Description = "Seconds to wait for a gateway to answer.",
        HelpName = "seconds",
        DefaultValueFactory = static _ => DefaultTimeoutSeconds,
        Recursive = true,
    };

    public CliCommands(TextWriter stdout, TextWriter stderr, IConfiguration environment, SecretInput stdin)
    {
        Stdout = stdout;
        Stderr = stderr;
        Stdin = stdin;
        _environment = environment;
        _redisPassword.Validators.Add(static result =>
        {
            if (result.GetValueOrDefault<string>() != SecretInput.StandardInput)
            {
                result.AddError($"--redis-password takes only '-' (read it from standard input): on the command line, every user of the machine can read it. Or set {RedisPasswordVariable}.");
            }
        });
        _timeout.Validators.Add(static result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 3600)
            {
                result.AddError("--timeout must be between 1 and 3600 seconds.");
            }
        });

        Root = new RootCommand(
            "sessioncache: looks Auth.js sessions up in the session cache cluster, signs users out and shows the cluster's state. "
            + "Configured like any client: Cluster__* and SessionCache__* environment variables, overridden by the options below. "
            + $"Secrets stay off the command line: '--token -' and '--redis-password -' read standard input, {TokenVariable} and {RedisPasswordVariable} the environment.")
        {
            _gateway, _redis, _redisPassword, _clusterId, _timeout,
            new LookupCommand(this).Command,
            new InvalidateCommand(this).Command,
            new StatusCommand(this).Command,
        };
    }

    public RootCommand Root { get; }

    public TextWriter Stdout { get; }

    public TextWriter Stderr { get; }

    /// <summary>Where <c>-</c> options read their secret.</summary>
    public SecretInput Stdin { get; }

    /// <summary><see cref="TokenVariable"/>, when set (and not empty).</summary>
    public string? EnvironmentToken => _environment[TokenVariable] is { Length: > 0 } token ? token : null;

    /// <summary>An option's value, read from standard input when it is <c>-</c>.</summary>
    public async Task<string?> ValueOrStandardInputAsync(string? value, string option, CancellationToken cancellationToken) =>
        value == SecretInput.StandardInput ? (await Stdin.ReadAsync(option, cancellationToken)).Trim() : value;

    /// <summary>Connects to the cluster as the global options and the environment say.</summary>
    /// <param name="parsed">The parsed command line.</param>
    /// <param name="extra">Command-specific configuration keys.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="CliFailure">Invalid configuration (2) or no cluster (3).</exception>
    public async Task<ClusterConnection> ConnectAsync(ParseResult parsed, IEnumerable<KeyValuePair<string, string?>>? extra, CancellationToken cancellationToken)
    {
        var redis = parsed.GetValue(_redis);
        if (redis is not null && ClusterSettings.HasPassword(redis))
        {
            await Stderr.WriteLineAsync($"note: a password in --redis is visible to every user of this machine (ps); use {RedisPasswordVariable} or --redis-password - instead.");
        }

        var password = parsed.GetResult(_redisPassword) is { Implicit: false }
            ? new RedisPassword(await Stdin.ReadAsync("--redis-password", cancellationToken), "--redis-password -", Explicit: true)
            : _environment[RedisPasswordVariable] is { Length: > 0 } fromEnvironment
                ? new RedisPassword(fromEnvironment, RedisPasswordVariable, Explicit: false)
                : null;
        var settings = new GlobalSettings(
            parsed.GetValue(_gateway) ?? [],
            redis,
            parsed.GetValue(_clusterId),
            TimeSpan.FromSeconds(parsed.GetValue(_timeout)),
            password);
        var configuration = ClusterSettings.Build(_environment, settings, extra);
        return await ClusterConnection.ConnectAsync(configuration, settings.Timeout, Stderr, cancellationToken);
    }

    /// <summary>
    /// Adds a validator that wants exactly one of <paramref name="options"/>, or none of them when
    /// <see cref="TokenVariable"/> is set (the token then comes from the environment).
    /// </summary>
    public void RequireExactlyOneOrTheEnvironmentToken(Command command, params Option[] options)
    {
        var names = string.Join(" or ", options.Select(static o => o.Name));
        command.Validators.Add(result =>
        {
            var given = options.Count(o => result.GetResult(o) is { Implicit: false });
            if (given == 0 && EnvironmentToken is null)
            {
                result.AddError($"'{command.Name}' needs {names} (or the token in {TokenVariable}).");
            }
            else if (given > 1)
            {
                result.AddError($"'{command.Name}' takes only one of {names}.");
            }
        });
    }
}
