using System.Reflection;
using System.Runtime.CompilerServices;

namespace SessionCache.TestSupport;

/// <summary>The repository the tests belong to, and the configuration they were built in.</summary>
public static class Repository
{
    public static string Root { get; } = FindRoot();

    /// <summary>Debug or Release: the processes tests start are the ones built alongside them.</summary>
    public static string Configuration =>
        typeof(Repository).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    private static string FindRoot([CallerFilePath] string sourceFile = "")
    {
        // Next to the binaries in a normal build; from this file's compile-time path when the
        // binaries were built elsewhere (dotnet test --artifacts-path /tmp/...).
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(sourceFile) })
        {
            for (var directory = string.IsNullOrEmpty(start) ? null : new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "Cluster.sln")))
                {
                    return directory.FullName;
                }
            }
        }

        throw new InvalidOperationException($"Cluster.sln not found above {AppContext.BaseDirectory} or {sourceFile}.");
    }
}
