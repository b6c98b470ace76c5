using System.Text;
using SessionCache.AspNetCore;
using SessionCache.AuthJs;

namespace SessionCache.Cluster.Tests;

/// <summary>The <c>AuthJs</c> scheme's claims: the configured role fields, and only they, grant roles.</summary>
[Trait("Category", "Unit")]
public sealed class SessionClaimsTests
{
    private static System.Security.Claims.ClaimsIdentity Identity(string json, IList<string>? roleFields = null) =>
        SessionClaims.Build(SessionLookupResult.Found(AuthJsSession.Parse(Encoding.UTF8.GetBytes(json)), "user-1", null, null), "AuthJs", roleFields ?? new AuthJsAuthenticationOptions().RoleFields);

    private static string[] Roles(System.Security.Claims.ClaimsIdentity identity) =>
        [.. identity.FindAll(identity.RoleClaimType).Select(static c => c.Value).Order(StringComparer.Ordinal)];

    [Fact]
    public void EveryDefaultRoleFieldGrantsItsRolesStringOrArray()
    {
        var identity = Identity("""{"user":{"name":"n","role":"admin","roles":["editor","admin"]},"roles":["billing"],"role":"auditor","expires":"2030-01-01T00:00:00.000Z"}""");

        Assert.Equal(["admin", "auditor", "billing", "editor"], Roles(identity));
        Assert.True(new System.Security.Claims.ClaimsPrincipal(identity).IsInRole("billing"));
        Assert.Equal("n", identity.Name);
    }

    [Fact]
    public void AConfiguredFieldGrantsRolesAndAnUnlistedRoleFieldGrantsNone()
    {
        var identity = Identity("""{"user":{"role":"admin"},"org":{"role":"owner","id":3},"role":"root"}""", ["org.role"]);

        Assert.Equal(["owner"], Roles(identity));
        Assert.False(new System.Security.Claims.ClaimsPrincipal(identity).IsInRole("admin"));
        Assert.False(new System.Security.Claims.ClaimsPrincipal(identity).IsInRole("root"));
    }

    [Fact]
    public void NonStringRolesAreIgnoredAndOtherFieldsStayClaims()
    {
        var identity = Identity("""{"user":{"roles":[1,null,"ok",{"x":1}],"plan":"pro"},"tier":"team"}""");

        Assert.Equal(["ok"], Roles(identity));
        Assert.Equal("pro", identity.FindFirst("plan")?.Value);
        Assert.Equal("team", identity.FindFirst("tier")?.Value);
    }
}
