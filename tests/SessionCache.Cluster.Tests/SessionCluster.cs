using System.Net;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using SessionCache.AspNetCore;
using SessionCache.AuthJs;
using SessionCache.AuthJs.Internals;
using SessionCache.Client;
using SessionCache.Contracts;
using SessionCache.Hosting;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace SessionCache.Cluster.Tests;

/// <summary>One real Auth.js server for the whole assembly: starting node per cluster would only cost time.</summary>
public static class SharedAuthJs
{
    private static readonly Lazy<Task<AuthJsServer>> Server = new(async () =>
    {
        var server = new AuthJsServer();
        await server.InitializeAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.DisposeAsync().GetAwaiter().GetResult();
        return server;
    });

    public static Task<AuthJsServer> GetAsync() => Server.Value;
}

/// <summary>
/// Orleans' in-process test cluster of three silos running the session grains, plus every way in:
/// each silo's <see cref="ISessionCache"/> (as a co-hosting app calls it), an HTTP front per silo
/// serving the session API and a protected endpoint over that silo, and an external client
/// connected through the gateways with <c>AddSessionCacheClient</c>.
/// </summary>
public abstract class SessionCluster : IAsyncLifetime
{
    public const string ApiKey = "cluster-test-api-key";
    public const int SiloCount = 3;

    private readonly List<WebApplication> _fronts = [];

    public AuthJsServer AuthJs { get; private set; } = null!;

    public InProcessTestCluster Cluster { get; private set; } = null!;

    public ShiftableClock Clock { get; } = new();

    /// <summary>Resolutions that reached the configured mode (decodes, queries, upstream calls), all silos.</summary>
    public int Resolutions => Volatile.Read(ref _resolutions);

    public IReadOnlyList<ISessionCache> SiloCaches { get; private set; } = [];

    public ISessionCache ClientCache { get; private set; } = null!;

    public IServiceProvider ClientServices { get; private set; } = null!;

    public IReadOnlyList<HttpClient> Fronts { get; private set; } = [];

    private int _resolutions;

    /// <summary>The <c>SessionCache</c> settings of this cluster's mode.</summary>
    protected abstract Dictionary<string, string?> Settings(AuthJsServer authJs);

    /// <summary>Services a silo of this cluster has before the session cache's own (which only add what is missing).</summary>
    protected virtual void ConfigureSilo(IServiceCollection services)
    {
    }

    public async Task InitializeAsync()
    {
        AuthJs = await SharedAuthJs.GetAsync();
        var settings = Settings(AuthJs);
        settings["SessionCache:ApiKey"] = ApiKey;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();

        var builder = new InProcessTestClusterBuilder(SiloCount);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddMemoryGrainStorageAsDefault();
            ConfigureSilo(silo.Services);
            silo.AddSessionCache(configuration);

            // Count what reaches the resolver: the grains' single flight is what is under test.
            silo.Services.AddKeyedSingleton<ISessionResolver>(AuthJsServiceCollectionExtensions.DirectResolverKey, (sp, _) => new CountingResolver(sp.GetRequiredService<SessionResolver>(), this));
            silo.Services.AddKeyedSingleton<TimeProvider>(SessionCacheClock.ServiceKey, Clock);
        });

        // The test cluster's client speaks to the silos in memory, not over TCP; it carries the
        // same client-side session API that AddSessionCacheClient registers (the gateway wiring
        // itself is tested against a real silo in SampleAppTests).
        builder.ConfigureClientHost(client =>
        {
            client.Services.AddClusterSessionCache(configuration);
            client.Services.AddKeyedSingleton<TimeProvider>(SessionCacheClock.ServiceKey, Clock);
        });
        Cluster = builder.Build();
        await Cluster.DeployAsync();

        SiloCaches = [.. Cluster.Silos.Select(static s => s.ServiceProvider.GetRequiredService<ISessionCache>())];
        ClientServices = Cluster.Client.ServiceProvider;
        ClientCache = ClientServices.GetRequiredService<ISessionCache>();

        var fronts = new List<HttpClient>();
        for (var i = 0; i < SiloCaches.Count; i++)
        {
            // As in a silo's own web app: its session endpoint sets cookies with the silo's secrets.
            fronts.Add(await StartFrontAsync(SiloCaches[i], Cluster.Silos[i].ServiceProvider.GetService<ISessionCookieWriter>()));
        }

        Fronts = fronts;
        await WaitForNearCachesAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var front in _fronts)
        {
            await front.DisposeAsync();
        }

        foreach (var client in Fronts)
        {
            client.Dispose();
        }

        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
    }

    /// <summary>Every way a session is looked up: each silo's API, the client, each silo's HTTP endpoint.</summary>
    public async Task<List<(string Path, string? SessionJson)>> LookUpEverywhereAsync(string? cookieHeader)
    {
        var answers = new List<(string, string?)>();
        for (var i = 0; i < SiloCaches.Count; i++)
        {
            answers.Add(($"silo {i} API", (await SiloCaches[i].GetServerSessionAsync(cookieHeader))?.ToString()));
        }

        answers.Add(("client", (await ClientCache.GetServerSessionAsync(cookieHeader))?.ToString()));
        for (var i = 0; i < Fronts.Count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, SessionCacheEndpoints.SessionPath.TrimStart('/'));
            if (cookieHeader is not null)
            {
                request.Headers.TryAddWithoutValidation("Cookie", cookieHeader);
            }

            using var response = await Fronts[i].SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            answers.Add(($"silo {i} HTTP", body == "null" ? null : body));
        }

        return answers;
    }

    /// <summary>The session grain's id for a cookie header.</summary>
    public static string SessionKeyOf(string cookieHeader) =>
        new SessionKeys([], 16 * 1024).Select(SessionRequest.FromCookieHeader(cookieHeader)).Hash;

    /// <summary>Whether any silo holds an activation of the session grain for this cookie header.</summary>
    public bool IsSessionGrainActive(string cookieHeader)
    {
        var grainId = Cluster.Silos[0].ServiceProvider.GetRequiredService<IGrainFactory>().GetGrain<ISessionGrain>(SessionKeyOf(cookieHeader)).GetGrainId();
        return Cluster.TryGetGrainContext(grainId, out _);
    }

    private async Task<HttpClient> StartFrontAsync(ISessionCache cache, ISessionCookieWriter? cookies)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        // Set in code, not in configuration: the endpoints must read the options value.
        builder.Services.Configure<SessionCacheOptions>(static options => options.ApiKey = ApiKey);
        builder.Services.AddSingleton(cache);
        builder.Services.AddSingleton<ISessionResolver>(cache);
        if (cookies is not null)
        {
            builder.Services.AddSingleton(cookies);
        }
        builder.Services.AddAuthentication(AuthJsAuthenticationOptions.DefaultScheme).AddAuthJs();
        builder.Services.AddAuthorization();
        var app = builder.Build();
        app.MapSessionCacheApi();
        app.MapGet("/me", static (ClaimsPrincipal user) => Results.Json(new
        {
            sub = user.FindFirstValue("sub"),
            name = user.Identity?.Name,
            email = user.FindFirstValue("email"),
            picture = user.FindFirstValue("picture"),
        })).RequireAuthorization();
        app.MapGet("/admin", static (ClaimsPrincipal user) => Results.Json(new { admin = user.Identity?.Name }))
            .RequireAuthorization(new Microsoft.AspNetCore.Authorization.AuthorizeAttribute { Roles = "admin" });
        await app.StartAsync();
        _fronts.Add(app);
        // No cookie container: each request carries exactly the cookies a test gives it, though the endpoint sets some.
        return new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = new Uri(app.Urls.First() + "/") };
    }

    /// <summary>Waits until every process holds a near-cache lease, so that tests exercise the near caches.</summary>
    private async Task WaitForNearCachesAsync()
    {
        var caches = Cluster.Silos.Select(static s => s.ServiceProvider).Append(ClientServices)
            .Select(static sp => sp.GetRequiredService<SessionCache.Client.Internals.NearCache>()).ToList();
        await Eventually.TrueAsync(() => caches.All(static c => c.IsLeaseValid), "every process subscribed to invalidations");
    }

    /// <summary>Counts resolutions on their way to the real resolver.</summary>
    private sealed class CountingResolver(ISessionResolver inner, SessionCluster owner) : ISessionResolver
    {
        public ValueTask<SessionLookupResult> LookupAsync(SessionRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref owner._resolutions);
            return inner.LookupAsync(request, cancellationToken);
        }
    }
}

/// <summary>JSON helpers.</summary>
public static class Json
{
    /// <summary>A session JSON without its <c>expires</c>, which Auth.js recomputes on every call for JWT sessions.</summary>
    public static string? WithoutExpires(string? json)
    {
        if (json is null || JsonNode.Parse(json) is not JsonObject node)
        {
            return json;
        }

        node.Remove("expires");
        return node.ToJsonString();
    }

    public static Task<HttpResponseMessage> PostInvalidateAsync(HttpClient http, string? body, string? apiKey = SessionCluster.ApiKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, SessionCacheEndpoints.InvalidatePath.TrimStart('/'));
        if (body is not null)
        {
            request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        }

        if (apiKey is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + apiKey);
        }

        return http.SendAsync(request);
    }

    public static async Task<JsonObject> ReadObjectAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonObject>())!;
}

