using SessionCache.Cli;

// Ctrl+C stops waiting (for the cluster, a lookup, a sign-out) and exits; the logic is in CliApplication.
using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
};

return await CliApplication.RunAsync(args, Console.Out, Console.Error, cancellation.Token);
