using System.Reflection;
using System.Text.RegularExpressions;
using SessionCache.AuthJs;
using SessionCache.Client;

namespace SessionCache.Silo.Tests;

/// <summary>
/// The README and docs/ as a newcomer meets them: a README that fits on a page, links that lead
/// somewhere inside the repository (or to a public site), and a configuration table that lists
/// every key the options classes bind.
/// </summary>
[Trait("Category", "Unit")]
public sealed partial class DocumentationTests
{
    private const int ReadmeLimit = 12 * 1024;

    private static readonly string Root = Repository.Root;

    [Fact]
    public void TheReadmeFitsInTwelveKilobytes()
    {
        var length = new FileInfo(Path.Combine(Root, "README.md")).Length;
        Assert.True(length <= ReadmeLimit, $"README.md is {length} bytes; at most {ReadmeLimit}: move details to docs/.");
    }

    [Fact]
    public void EveryLinkResolvesInsideTheRepositoryOrToAPublicSite()
    {
        var broken = new List<string>();
        foreach (var file in Pages())
        {
            var text = File.ReadAllText(file);
            foreach (Match link in MarkdownLink().Matches(text))
            {
                var target = link.Groups[1].Value;
                var where = $"{Path.GetRelativePath(Root, file)}: ({target})";
                if (target.StartsWith("https://", StringComparison.Ordinal))
                {
                    continue;
                }

                if (target.StartsWith("http://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
                {
                    broken.Add(where + " is not a public https address");
                    continue;
                }

                var hash = target.IndexOf('#', StringComparison.Ordinal);
                var path = hash < 0 ? target : target[..hash];
                var anchor = hash < 0 ? null : target[(hash + 1)..];
                var resolved = path.Length == 0 ? file : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, path));
                if (!resolved.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    broken.Add(where + " leaves the repository");
                }
                else if (!File.Exists(resolved) && !Directory.Exists(resolved))
                {
                    broken.Add(where + " names nothing");
                }
                else if (anchor is not null && resolved.EndsWith(".md", StringComparison.Ordinal) && !Anchors(resolved).Contains(anchor))
                {
                    broken.Add(where + $" names no heading of {Path.GetRelativePath(Root, resolved)}");
                }
            }
        }

        Assert.True(broken.Count == 0, string.Join('\n', broken));
    }

    [Fact]
    public void TheConfigurationTableListsEveryKeyTheOptionsBind()
    {
        var table = File.ReadAllText(Path.Combine(Root, "docs", "configuration.md"));
        var keys = Keys(typeof(SessionCacheOptions), "SessionCache")
            .Concat(Keys(typeof(SessionCacheClientOptions), "SessionCache"))
            .Concat(Keys(typeof(SessionCacheClusterOptions), "Cluster"))
            .Distinct(StringComparer.Ordinal)
            .ToList();

        Assert.True(keys.Count > 50, $"only {keys.Count} keys found: the options classes were not walked");
        var missing = keys.Where(key => !table.Contains($"| `{key}` |", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, "docs/configuration.md lacks a row for: " + string.Join(", ", missing));
    }

    private static IEnumerable<string> Pages() =>
        Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Prepend(Path.Combine(Root, "README.md"));

    /// <summary>The keys configuration binds on <paramref name="type"/>: leaves by name, option groups walked into.</summary>
    private static IEnumerable<string> Keys(Type type, string prefix)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var key = prefix + ":" + property.Name;
            var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (typeof(Delegate).IsAssignableFrom(propertyType))
            {
                // Set in code only (SessionCacheOptions.ShapeSession).
                continue;
            }

            if (propertyType.IsClass && propertyType != typeof(string) && propertyType != typeof(Uri)
                && propertyType.Namespace?.StartsWith("SessionCache", StringComparison.Ordinal) == true)
            {
                foreach (var nested in Keys(propertyType, key))
                {
                    yield return nested;
                }

                continue;
            }

            if (property.CanWrite || propertyType.IsGenericType)
            {
                yield return key;
            }
        }
    }

    /// <summary>The anchors GitHub gives a page's headings.</summary>
    private static HashSet<string> Anchors(string file) =>
        [.. Heading().Matches(File.ReadAllText(file)).Select(static m => Slug(m.Groups[1].Value))];

    private static string Slug(string heading) =>
        NotInSlug().Replace(heading.Trim().ToLowerInvariant(), string.Empty).Replace(' ', '-');

    [GeneratedRegex(@"\[[^\]]*\]\(([^)\s]+)\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex(@"(?m)^#{1,6} (.+)$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"[^\w\- ]")]
    private static partial Regex NotInSlug();
}
