using SessionCache.Hosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddSessionCacheSilo();

var app = builder.Build();
app.MapSessionCacheEndpoints();
app.Run();

/// <summary>The standalone silo; public so that tests can host it.</summary>
public partial class Program;
