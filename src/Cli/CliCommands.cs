using System.CommandLine;
using Microsoft.Extensions.Configuration;

namespace SessionCache.Cli;

/// <summary>The command tree, the global options every command shares, and the way commands connect.</summary>
internal sealed class CliCommands
{
    public const int DefaultTimeoutSeconds = 15;

    private readonly IConfiguration _environment;

    private readonly Option<string[]> _gateway = new("--gateway")
    {
        Description = "A gateway to connect to, as host:port (repeatable). Replaces Cluster:Gateways. Default: 127.0.0.1:30000, this machine's silo.",
        HelpName = "host:port",
        Recursive = true,
    };

    private readonly Option<string> _redis = new("--redis")
    {
        Description = "Find the gateways in Redis at this connection string (Cluster:Membership=Redis, Cluster:ConnectionString).",
        HelpName = "connection string",
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

    public CliCommands(TextWriter stdout, TextWriter stderr, IConfiguration environment)
    {
        Stdout = stdout;
        Stderr = stderr;
        _environment = environment;
        _timeout.Validators.Add(static result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 3600)
            {
                result.AddError("--timeout must be between 1 and 3600 seconds.");
            }
        });

        Root = new RootCommand(
            "sessioncache: looks Auth.js sessions up in the session cache cluster, signs users out and shows the cluster's state. "
            + "Configured like any client: Cluster__* and SessionCache__* environment variables, overridden by the options below.")
        {
            _gateway, _redis, _clusterId, _timeout,
            new LookupCommand(this).Command,
            new InvalidateCommand(this).Command,
            new StatusCommand(this).Command,
        };
    }

    public RootCommand Root { get; }

    public TextWriter Stdout { get; }

    public TextWriter Stderr { get; }

    /// <summary>Connects to the cluster as the global options and the environment say.</summary>
    /// <param name="parsed">The parsed command line.</param>
    /// <param name="extra">Command-specific configuration keys.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="CliFailure">Invalid configuration (2) or no cluster (3).</exception>
    public Task<ClusterConnection> ConnectAsync(ParseResult parsed, IEnumerable<KeyValuePair<string, string?>>? extra, CancellationToken cancellationToken)
    {
        var settings = new GlobalSettings(
            parsed.GetValue(_gateway) ?? [],
            parsed.GetValue(_redis),
            parsed.GetValue(_clusterId),
            TimeSpan.FromSeconds(parsed.GetValue(_timeout)));
        var configuration = ClusterSettings.Build(_environment, settings, extra);
        return ClusterConnection.ConnectAsync(configuration, settings.Timeout, Stderr, cancellationToken);
    }

    /// <summary>Adds a validator that wants exactly one of <paramref name="options"/>.</summary>
    public static void RequireExactlyOne(Command command, params Option[] options)
    {
        var names = string.Join(" or ", options.Select(static o => o.Name));
        command.Validators.Add(result =>
        {
            var given = options.Count(o => result.GetResult(o) is { Implicit: false });
            if (given == 0)
            {
                result.AddError($"'{command.Name}' needs {names}.");
            }
            else if (given > 1)
            {
                result.AddError($"'{command.Name}' takes only one of {names}.");
            }
        });
    }
}
