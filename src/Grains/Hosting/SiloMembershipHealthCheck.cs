using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SessionCache.Hosting;

/// <summary>Healthy once this silo is an active member of its cluster.</summary>
internal sealed class SiloMembershipHealthCheck(IClusterMembershipService membership, ILocalSiloDetails localSilo) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(localSilo.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy("silo is an active cluster member")
            : HealthCheckResult.Unhealthy($"silo is {status}"));
    }
}
