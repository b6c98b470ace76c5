using SessionCache.AuthJs;
using SessionCache.Processes.Tests.Infrastructure;

namespace SessionCache.Processes.Tests;

[Collection(ProcessClusterCollection.Name)]
public sealed class FormationTests(ProcessCluster cluster)
{
    [Fact]
    public async Task Silos_web_app_and_clients_form_one_cluster_through_redis_and_resolve_a_session_once()
    {
        var cookie = await cluster.SignInAsync("formation-" + Guid.NewGuid().ToString("N")[..6]);
        await cluster.ResetUpstreamCallsAsync();

        // 1,000 concurrent lookups of one new session, spread over every process: the four HTTP
        // fronts (three silos, the co-hosted web app) and both external clients.
        var lookups = Enumerable.Range(0, 1000).Select(async i =>
        {
            var path = i % 6;
            if (path < 4)
            {
                return (await cluster.Nodes[path].SessionAsync(cookie)).Outcome;
            }

            return ProcessCluster.ToOutcome(await cluster.Clients[path - 4].LookupAsync(SessionRequest.FromCookieHeader(cookie)));
        });
        var outcomes = await Task.WhenAll(lookups);

        Assert.All(outcomes, static o => Assert.Equal(FrontOutcome.Session, o));
        var calls = await cluster.UpstreamCallsAsync();
        Assert.Equal(1, calls.Count);
    }

    [Fact]
    public async Task Every_process_is_a_member_in_redis()
    {
        // Each node's /health says it is an active member; the clients found the gateways in Redis,
        // so a session looked up through each path came from the same grain.
        foreach (var node in cluster.Nodes)
        {
            await node.WaitHealthyAsync(5);
        }

        var cookie = await cluster.SignInAsync("member-" + Guid.NewGuid().ToString("N")[..6]);
        await cluster.ResetUpstreamCallsAsync();
        var answers = await cluster.LookUpEverywhereAsync(cookie);
        Assert.Equal(6, answers.Count);
        Assert.All(answers, static a => Assert.Equal(FrontOutcome.Session, a.Outcome));
        Assert.Equal(1, (await cluster.UpstreamCallsAsync()).Count);
    }
}
