using SessionCache.Client.Internals;

namespace SessionCache.Hosting;

/// <summary>
/// Runs <see cref="StartupChecks"/> at the first stage of the silo's lifecycle: before it listens,
/// writes to the membership table or activates a grain. (A hosted service would be too late:
/// Orleans starts the silo ahead of the application's own hosted services.)
/// </summary>
internal sealed class SiloStartupChecks(StartupChecks checks) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SiloStartupChecks), ServiceLifecycleStage.First, checks.RunAsync);
}
