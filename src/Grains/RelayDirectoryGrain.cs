using Orleans.Concurrency;
using SessionCache.Contracts;

namespace SessionCache.Grains;

/// <summary>Answers from the silo it is called on, or the gateway a client reaches: no call leaves that silo.</summary>
[StatelessWorker]
internal sealed class RelayDirectoryGrain(IClusterMembershipService membership, ILocalSiloDetails localSilo) : Grain, IRelayDirectoryGrain
{
    public Task<RelayDirectory> GetRelaysAsync()
    {
        var active = new List<string>();
        foreach (var member in membership.CurrentSnapshot.Members.Values)
        {
            if (member.Status == SiloStatus.Active)
            {
                active.Add(member.SiloAddress.ToParsableString());
            }
        }

        return Task.FromResult(new RelayDirectory(localSilo.SiloAddress.ToParsableString(), [.. active]));
    }
}
