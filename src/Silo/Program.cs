using SessionCache.Hosting;

try
{
    var builder = WebApplication.CreateBuilder(args);
    builder.AddSessionCacheSilo();

    var app = builder.Build();
    app.MapSessionCacheEndpoints();

    // SIGTERM (docker stop, Kubernetes) stops the host: Orleans then leaves the cluster cleanly,
    // handing its sessions over, within HostOptions.ShutdownTimeout.
    await app.RunAsync();
    return 0;
}
catch (Exception exception) when (StartupFailure.ExitCode(exception) is { } exitCode)
{
    await Console.Error.WriteLineAsync(StartupFailure.Describe(exception));
    return exitCode;
}

/// <summary>The standalone silo; public so that tests can host it.</summary>
public partial class Program;
