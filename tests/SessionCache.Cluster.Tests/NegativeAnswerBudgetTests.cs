using Microsoft.Extensions.DependencyInjection;
using SessionCache.AuthJs;
using SessionCache.Grains;

namespace SessionCache.Cluster.Tests;

/// <summary>Proxy mode with a budget of 3 kept negative answers per silo, so that reaching it takes a few cookies.</summary>
public sealed class SmallNegativeBudgetCluster : SessionCluster
{
    public const int Budget = 3;

    protected override Dictionary<string, string?> Settings(AuthJsServer authJs) => new()
    {
        ["SessionCache:Mode"] = "Proxy",
        ["SessionCache:Upstream"] = new Uri(authJs.BaseAddress, "switch/auth").ToString(),
        ["SessionCache:NegativeCacheAge"] = "00:05:00",
    };

    protected override void ConfigureSilo(IServiceCollection services) => services.AddSingleton(new NegativeAnswers(Budget));
}

/// <summary>
/// Where asking again costs a call upstream, "no session" answers are kept, but only as many per
/// silo as its budget: distinct junk cookies beyond it are asked about afresh and leave no
/// activation behind.
/// </summary>
public sealed class NegativeAnswerBudgetTests(SmallNegativeBudgetCluster cluster) : IClassFixture<SmallNegativeBudgetCluster>
{
    [Fact]
    public async Task Distinct_junk_beyond_the_budget_is_not_kept()
    {
        var junk = Enumerable.Range(0, 30).Select(i => $"authjs.session-token=junk-{Guid.NewGuid():N}-{i}").ToList();
        foreach (var cookie in junk)
        {
            Assert.Equal(SessionLookupStatus.NoSession, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
        }

        var held = cluster.Cluster.Silos.Sum(static s => s.ServiceProvider.GetRequiredService<NegativeAnswers>().Held);
        Assert.InRange(held, 1, SmallNegativeBudgetCluster.Budget * SessionCluster.SiloCount);

        // Asked again: what was kept is answered by its grain; the rest goes upstream once more.
        var before = cluster.Resolutions;
        foreach (var cookie in junk)
        {
            Assert.Equal(SessionLookupStatus.NoSession, (await cluster.ClientCache.LookupAsync(SessionRequest.FromCookieHeader(cookie))).Status);
        }

        Assert.Equal(junk.Count - held, cluster.Resolutions - before);
    }
}
