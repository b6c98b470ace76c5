using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Npgsql;
using SessionCache.AuthJs;
using SessionCache.Client;

namespace SessionCache.Silo.Tests;

/// <summary>
/// docker-compose.yml as Compose itself resolves it (<c>docker-compose config</c>), held against
/// the code: no container runs here, so a misspelt setting, an enum value that does not bind, a
/// health path nobody maps or an entry point naming the wrong assembly would otherwise only show
/// up as a deployment that never becomes healthy.
/// </summary>
public sealed class ComposeFileTests
{
    private static readonly Dictionary<string, string> Secrets = new(StringComparer.Ordinal)
    {
        ["AUTH_SECRET"] = "compose-test-auth-secret-0123456789abcdef",
        ["SESSION_CACHE_API_KEY"] = "compose-test-api-key",
        ["POSTGRES_PASSWORD"] = "compose0test0password",
    };

    private static readonly string[] ClusterMembers = ["silo1", "silo2", "silo3", "webapp"];
    private static readonly string[] Services = ["redis", "postgres", "authjs", .. ClusterMembers];

    // Settings each silo has its own value of (docs/operations.md, "Running a cluster on Redis").
    private static readonly string[] PerSiloSettings = ["Cluster__AdvertisedAddress", "Cluster__SiloPort", "Cluster__GatewayPort"];

    // Read by ASP.NET Core, the .NET host or Auth.js' secret handling, not by an options class.
    private static readonly string[] FrameworkPrefixes = ["ASPNETCORE_", "DOTNET_", "AUTH_SECRET"];
    private static readonly string[] FrameworkSections = ["Logging"];

    private static readonly string Root = Repository.Root;
    private static readonly Lazy<Task<JsonElement>> Config = new(LoadConfigAsync);

    [Fact]
    public async Task ComposeResolvesTheFileWithTheSecretsSet()
    {
        // Loading the configuration fails the test with Compose's message unless it exits with 0.
        var services = (await Config.Value).GetProperty("services");
        Assert.Equal(Services.Order(StringComparer.Ordinal), services.EnumerateObject().Select(static s => s.Name).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("AUTH_SECRET")]
    [InlineData("SESSION_CACHE_API_KEY")]
    [InlineData("POSTGRES_PASSWORD")]
    public async Task ComposeRefusesToStartWithoutASecretAndSaysHowToSetIt(string missing)
    {
        var environment = Secrets.Where(s => s.Key != missing).ToDictionary(StringComparer.Ordinal);

        var (exitCode, _, error) = await ComposeConfigAsync(environment);

        Assert.NotEqual(0, exitCode);
        Assert.Contains($"set {missing} in .env", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EveryServiceHasAHealthcheckAndARestartPolicy()
    {
        foreach (var (name, service) in ServicesOf(await Config.Value))
        {
            Assert.True(service.TryGetProperty("healthcheck", out var health) && !IsTrue(health, "disable") && HealthcheckCommand(health).Length > 0
                && !HealthcheckCommand(health).Equals("NONE", StringComparison.Ordinal), $"{name} has no healthcheck");
            var restart = service.TryGetProperty("restart", out var policy) ? policy.GetString()
                : service.TryGetProperty("deploy", out var deploy) && deploy.TryGetProperty("restart_policy", out var swarm) ? swarm.GetProperty("condition").GetString()
                : null;
            Assert.True(restart is "always" or "unless-stopped" or "on-failure" or "any", $"{name} has no restart policy (restart: {restart ?? "none"})");
        }
    }

    [Fact]
    public async Task ClusterMembersShareTheClusterSettingsAndAdvertiseTheirOwnNames()
    {
        var config = await Config.Value;
        var members = ClusterMembers.Select(name => (name, environment: EnvironmentOf(Service(config, name)))).ToList();

        var reference = Shared(members[0].environment);
        foreach (var (name, environment) in members.Skip(1))
        {
            var shared = Shared(environment);
            var differences = reference.Keys.Union(shared.Keys, StringComparer.OrdinalIgnoreCase)
                .Where(key => reference.GetValueOrDefault(key) != shared.GetValueOrDefault(key))
                .ToList();
            Assert.True(differences.Count == 0, $"{name} differs from {members[0].name} in {string.Join(", ", differences)}");
        }

        Assert.Equal("Redis", reference.GetValueOrDefault("Cluster__Membership"), StringComparer.OrdinalIgnoreCase);
        Assert.False(string.IsNullOrWhiteSpace(reference.GetValueOrDefault("Cluster__ConnectionString")), "Cluster__ConnectionString is not set");
        Assert.False(string.IsNullOrWhiteSpace(reference.GetValueOrDefault("Cluster__ClusterId")), "Cluster__ClusterId is not set");

        foreach (var (name, environment) in members)
        {
            // A host name resolved at start: the service's own name is the one the others reach it at.
            Assert.Equal(name, environment.GetValueOrDefault("Cluster__AdvertisedAddress"));
        }

        Assert.Equal(members.Count, members.Select(static m => m.environment["Cluster__AdvertisedAddress"]).Distinct(StringComparer.OrdinalIgnoreCase).Count());

        static Dictionary<string, string> Shared(Dictionary<string, string> environment) =>
            environment.Where(static e => !PerSiloSettings.Contains(e.Key, StringComparer.OrdinalIgnoreCase))
                .ToDictionary(StringComparer.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task ClusterMembersStartOnceRedisAndPostgresAreHealthy()
    {
        var config = await Config.Value;
        foreach (var name in ClusterMembers)
        {
            var dependsOn = Service(config, name).GetProperty("depends_on");
            foreach (var dependency in new[] { "redis", "postgres" })
            {
                Assert.True(dependsOn.TryGetProperty(dependency, out var condition)
                    && condition.GetProperty("condition").GetString() == "service_healthy", $"{name} does not wait for {dependency} to be healthy");
            }
        }
    }

    [Fact]
    public async Task EveryDotNetSettingNamesARealOptionAndItsValueBinds()
    {
        var errors = new List<string>();
        foreach (var name in ClusterMembers)
        {
            foreach (var (key, value) in EnvironmentOf(Service(await Config.Value, name)))
            {
                if (SettingError(key, value) is { } error)
                {
                    errors.Add($"{name}: {key}={value}: {error}");
                }
            }
        }

        Assert.True(errors.Count == 0, string.Join(Environment.NewLine, errors));
    }

    [Fact]
    public async Task EveryAuthJsVariableIsOneTheAppReads()
    {
        var server = await File.ReadAllTextAsync(Path.Combine(Root, "samples", "authjs-app", "server.mjs"));

        foreach (var key in EnvironmentOf(Service(await Config.Value, "authjs")).Keys)
        {
            Assert.True(server.Contains($"process.env.{key}", StringComparison.Ordinal), $"authjs sets {key}, which samples/authjs-app/server.mjs never reads");
        }
    }

    [Fact]
    public async Task TheAuthJsAppUsesTheClustersDatabaseSecretAndKey()
    {
        var config = await Config.Value;
        var postgres = EnvironmentOf(Service(config, "postgres"));
        var authjs = EnvironmentOf(Service(config, "authjs"));
        var cluster = EnvironmentOf(Service(config, "webapp"));

        var database = new NpgsqlConnectionStringBuilder(cluster["SessionCache__ConnectionString"]);
        Assert.Equal("postgres", database.Host);
        Assert.Equal(postgres["POSTGRES_USER"], database.Username);
        Assert.Equal(postgres["POSTGRES_PASSWORD"], database.Password);
        Assert.Equal(postgres["POSTGRES_DB"], database.Database);

        var url = new Uri(authjs["DATABASE_URL"]);
        Assert.Equal("postgres", url.Host);
        Assert.Equal($"{postgres["POSTGRES_USER"]}:{postgres["POSTGRES_PASSWORD"]}", Uri.UnescapeDataString(url.UserInfo));
        Assert.Equal("/" + postgres["POSTGRES_DB"], url.AbsolutePath);

        Assert.Equal(cluster["AUTH_SECRET"], authjs["AUTH_SECRET"]);
        Assert.Equal(cluster["SessionCache__ApiKey"], authjs["SESSION_CACHE_API_KEY"]);
        var cache = new Uri(authjs["SESSION_CACHE_URL"]);
        Assert.Contains(cache.Host, ClusterMembers);
        Assert.Contains(cache.Port, ListeningPorts(cache.Host, EnvironmentOf(Service(config, cache.Host))));
    }

    [Fact]
    public async Task RedisKeepsEverySignOutAndPostgresGetsTheAdapterSchema()
    {
        var config = await Config.Value;

        var redis = string.Join(' ', Service(config, "redis").GetProperty("command").EnumerateArray().Select(static a => a.GetString()));
        Assert.Contains("--appendonly yes", redis, StringComparison.Ordinal);
        Assert.Contains("--appendfsync always", redis, StringComparison.Ordinal);
        Assert.Contains("--maxmemory-policy noeviction", redis, StringComparison.Ordinal);

        var mounts = Service(config, "postgres").GetProperty("volumes").EnumerateArray().Select(BindMount).OfType<(string Source, string Target)>().ToList();
        Assert.Contains(mounts, m => Path.GetFullPath(m.Source) == Path.Combine(Root, "tests", "authjs", "schema.sql")
            && m.Target.StartsWith("/docker-entrypoint-initdb.d/", StringComparison.Ordinal));
        foreach (var (name, service) in ServicesOf(config))
        {
            foreach (var (source, _) in service.TryGetProperty("volumes", out var volumes) ? volumes.EnumerateArray().Select(BindMount).OfType<(string Source, string Target)>() : [])
            {
                Assert.True(File.Exists(source) || Directory.Exists(source), $"{name} mounts {source}, which does not exist");
            }
        }
    }

    [Fact]
    public async Task DotNetImagesBuildAndRunTheProjectTheServiceNames()
    {
        foreach (var name in ClusterMembers)
        {
            var build = Service(await Config.Value, name).GetProperty("build");
            var (context, dockerfile) = BuildFiles(name, build);
            var args = build.TryGetProperty("args", out var a) ? a.EnumerateObject().ToDictionary(static p => p.Name, static p => Scalar(p.Value), StringComparer.Ordinal) : [];
            var instructions = Instructions(dockerfile);

            Assert.True(args.TryGetValue("PROJECT", out var project), $"{name}: no PROJECT build arg");
            var projectFile = Path.Combine(context, project!);
            Assert.True(project!.EndsWith(".csproj", StringComparison.Ordinal) && File.Exists(projectFile), $"{name}: PROJECT={project} is not a project file under {context}");

            // The build stage sees only what it copies: the project, what it references, and the
            // root files that define the build (package versions, warnings as errors, SDK pin).
            var copied = instructions.Where(static i => i.Instruction == "COPY" && !i.Arguments.Any(static a => a.StartsWith("--from", StringComparison.Ordinal)))
                .SelectMany(static i => Sources(i.Arguments)).ToList();
            foreach (var needed in ProjectClosure(projectFile))
            {
                var relative = Path.GetRelativePath(context, needed).Replace('\\', '/');
                Assert.True(copied.Any(source => relative.StartsWith(source.TrimEnd('/') + "/", StringComparison.Ordinal)),
                    $"{name}: {Path.GetFileName(dockerfile)} does not copy {relative}");
            }

            foreach (var file in Directory.EnumerateFiles(context).Select(Path.GetFileName).Where(static f => f is "global.json" or ".editorconfig"
                || Regex.IsMatch(f!, @"^(Directory\.(Build|Packages)\.(props|targets)|nuget\.config)$", RegexOptions.IgnoreCase)))
            {
                Assert.True(copied.Contains(file!), $"{name}: {Path.GetFileName(dockerfile)} does not copy {file}, which shapes the build");
            }

            var entrypoint = ResolveVariables(name, instructions, args, instructions.Last(static i => i.Instruction == "ENTRYPOINT").Arguments);
            var dll = entrypoint.Select(static a => Regex.Match(a, @"[^\s""'\\]+\.dll")).FirstOrDefault(static m => m.Success)?.Value;
            Assert.True(dll is not null, $"{name}: the ENTRYPOINT ({string.Join(' ', entrypoint)}) runs no .dll");
            Assert.Equal(AssemblyName(projectFile), Path.GetFileNameWithoutExtension(dll));
        }
    }

    [Fact]
    public async Task TheAuthJsImageRunsAFileItCopiesAndInstallsFromTheLockFile()
    {
        var (context, dockerfile) = BuildFiles("authjs", Service(await Config.Value, "authjs").GetProperty("build"));
        var instructions = Instructions(dockerfile);
        var copied = instructions.Where(static i => i.Instruction == "COPY").SelectMany(static i => Sources(i.Arguments)).ToList();

        var command = instructions.Last(static i => i.Instruction == "CMD").Arguments;
        var script = command.FirstOrDefault(static a => Regex.IsMatch(a, @"\.(mjs|cjs|js)$"));
        Assert.True(script is not null, $"the CMD ({string.Join(' ', command)}) runs no script");
        Assert.True(copied.Any(source => Path.GetFileName(source.TrimEnd('/')) == script && File.Exists(Path.Combine(context, source))
            || Directory.Exists(Path.Combine(context, source)) && File.Exists(Path.Combine(context, source, script))), $"{script} is not copied from an existing file");

        // The app imports the repository's module by a relative path: the image must carry it, where that path leads.
        var workdir = instructions.Last(static i => i.Instruction == "WORKDIR").Arguments[0];
        var sample = File.ReadAllText(Path.Combine(context, "samples", "authjs-app", "server.mjs"));
        foreach (Match import in Regex.Matches(sample, @"from ""(\.\.?/[^""]+)"""))
        {
            var inRepository = Path.GetRelativePath(context, Path.GetFullPath(Path.Combine(context, "samples", "authjs-app", import.Groups[1].Value))).Replace('\\', '/');
            var inImage = Path.GetFullPath(Path.Combine(workdir, import.Groups[1].Value)).Replace('\\', '/');
            Assert.Contains(instructions, i => i.Instruction == "COPY" && i.Arguments.Length == 2 && i.Arguments[0] == inRepository && i.Arguments[1] == inImage);
        }

        var lockFile = copied.FirstOrDefault(static s => s.EndsWith("package-lock.json", StringComparison.Ordinal));
        Assert.True(lockFile is not null && File.Exists(Path.Combine(context, lockFile)), "the image does not copy an existing package-lock.json");
        Assert.Contains(instructions, static i => i.Instruction == "RUN" && string.Join(' ', i.Arguments).Contains("npm ci --omit=dev", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheBuildContextLeavesOutBuildOutputsDependenciesAndSecrets()
    {
        // Patterns without **/ match at the context root only: obj/ would let every project's
        // host-specific restore output into the image.
        var ignored = (await File.ReadAllLinesAsync(Path.Combine(Root, ".dockerignore")))
            .Select(static l => l.Trim().TrimEnd('/')).Where(static l => l.Length > 0 && !l.StartsWith('#')).ToHashSet(StringComparer.Ordinal);

        foreach (var pattern in new[] { "**/bin", "**/obj", "**/node_modules", ".git", ".env" })
        {
            Assert.True(ignored.Contains(pattern), $".dockerignore does not exclude {pattern}");
        }
    }

    [Fact]
    public async Task HealthchecksCallEndpointsTheCodeMapsOnThePortTheServiceListensOn()
    {
        var hosting = string.Join('\n', Directory.EnumerateFiles(Path.Combine(Root, "src", "Grains", "Hosting"), "*.cs").Select(File.ReadAllText));
        var server = await File.ReadAllTextAsync(Path.Combine(Root, "samples", "authjs-app", "server.mjs"));
        var config = await Config.Value;

        foreach (var name in ClusterMembers.Append("authjs"))
        {
            var service = Service(config, name);
            var command = HealthcheckCommand(service.GetProperty("healthcheck"));
            var url = Regex.Match(command, @"https?://[^\s'""]+");
            Assert.True(url.Success, $"{name}: the healthcheck ({command}) calls no URL");
            var endpoint = new Uri(url.Value);

            var code = name == "authjs" ? server : hosting;
            Assert.True(code.Contains($"\"{endpoint.AbsolutePath}\"", StringComparison.Ordinal),
                $"{name}: the healthcheck calls {endpoint.AbsolutePath}, which {(name == "authjs" ? "samples/authjs-app/server.mjs" : "src/Grains/Hosting/*.cs")} does not map");
            var listening = ListeningPorts(name, EnvironmentOf(service));
            Assert.True(listening.Contains(endpoint.Port), $"{name}: the healthcheck calls port {endpoint.Port}; the service listens on {string.Join(", ", listening)}");
        }
    }

    [Fact]
    public async Task PublishedPortsLeadToThePortTheServiceListensOn()
    {
        foreach (var name in ClusterMembers.Append("authjs"))
        {
            var service = Service(await Config.Value, name);
            foreach (var port in service.TryGetProperty("ports", out var ports) ? ports.EnumerateArray().ToArray() : [])
            {
                var target = port.ValueKind == JsonValueKind.Object
                    ? int.Parse(Scalar(port.GetProperty("target")), CultureInfo.InvariantCulture)
                    : int.Parse(Scalar(port).Split('/')[0].Split(':')[^1], CultureInfo.InvariantCulture);
                var listening = ListeningPorts(name, EnvironmentOf(service));
                Assert.True(listening.Contains(target), $"{name}: a published port leads to {target}; the service listens on {string.Join(", ", listening)}");
            }
        }
    }

    /// <summary>Why the .NET host would not bind <paramref name="key"/> to a setting, or null when it does.</summary>
    private static string? SettingError(string key, string value)
    {
        if (FrameworkPrefixes.Any(prefix => key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        var path = key.Split("__");
        if (path.Length == 1)
        {
            return $"neither a section__setting key nor a framework variable ({string.Join(", ", FrameworkPrefixes.Select(static p => p + "*"))})";
        }

        if (FrameworkSections.Contains(path[0], StringComparer.OrdinalIgnoreCase))
        {
            return null;
        }

        // Both SessionCache classes bind the same section: a key is real if either has it.
        Type[] candidates = [typeof(SessionCacheClusterOptions), typeof(SessionCacheOptions), typeof(SessionCacheClientOptions)];
        var errors = candidates
            .Where(type => string.Equals((string?)type.GetField("SectionName")!.GetValue(null), path[0], StringComparison.OrdinalIgnoreCase))
            .Select(type => (type, error: Walk(type, path.AsSpan(1), value)))
            .ToList();
        return errors.Count == 0 ? $"no options class binds the section {path[0]}"
            : errors.Any(static e => e.error is null) ? null
            : string.Join("; ", errors.Select(static e => $"{e.type.Name}: {e.error}"));
    }

    private static string? Walk(Type type, ReadOnlySpan<string> path, string value)
    {
        if (path.IsEmpty)
        {
            return Binds(type, value);
        }

        if (IsValue(type))
        {
            return $"{type.Name} is a single value, not a section with '{path[0]}' in it";
        }

        if (GenericInterface(type, typeof(IDictionary<,>)) is { } dictionary)
        {
            return Walk(dictionary[1], path[1..], value);
        }

        if (GenericInterface(type, typeof(ICollection<>)) is { } collection)
        {
            return int.TryParse(path[0], NumberStyles.None, CultureInfo.InvariantCulture, out _)
                ? Walk(collection[0], path[1..], value)
                : $"{type.Name} is a list; '{path[0]}' is not an index";
        }

        var property = type.GetProperty(path[0], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
        if (property is null)
        {
            var known = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Select(static p => p.Name);
            return $"{type.Name} has no setting '{path[0]}' (it has {string.Join(", ", known)})";
        }

        if (path.Length == 1 && IsValue(property.PropertyType) && property.SetMethod is not { IsPublic: true })
        {
            return $"{type.Name}.{property.Name} cannot be set";
        }

        return Walk(property.PropertyType, path[1..], value);
    }

    /// <summary>Converts as ConfigurationBinder does (type converters), and refuses enum values the enum does not define.</summary>
    private static string? Binds(Type type, string value)
    {
        if (!IsValue(type))
        {
            return $"{type.Name} is a section, not a single value";
        }

        var target = Nullable.GetUnderlyingType(type) ?? type;
        try
        {
            var converted = TypeDescriptor.GetConverter(target).ConvertFromInvariantString(value);
            return target.IsEnum && (converted is null || !Enum.IsDefined(target, converted))
                ? $"'{value}' is not a {target.Name} ({string.Join(", ", Enum.GetNames(target))})"
                : null;
        }
        catch (Exception e) when (e is FormatException or ArgumentException or NotSupportedException || e.InnerException is FormatException)
        {
            return $"'{value}' is not a {target.Name}{(target.IsEnum ? $" ({string.Join(", ", Enum.GetNames(target))})" : string.Empty)}";
        }
    }

    private static bool IsValue(Type type) => TypeDescriptor.GetConverter(type).CanConvertFrom(typeof(string));

    private static Type[]? GenericInterface(Type type, Type definition) =>
        type.GetInterfaces().Prepend(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == definition)?.GetGenericArguments();

    /// <summary>The ports a service listens on, from the variables its program reads.</summary>
    private static int[] ListeningPorts(string name, Dictionary<string, string> environment)
    {
        if (name == "authjs")
        {
            return [int.Parse(environment.GetValueOrDefault("PORT", "3000"), CultureInfo.InvariantCulture)];
        }

        // The aspnet image listens on 8080 (ASPNETCORE_HTTP_PORTS) unless ASPNETCORE_URLS says otherwise.
        return environment.TryGetValue("ASPNETCORE_URLS", out var urls)
            ? urls.Split(';').Select(static u => int.Parse(Regex.Match(u, @":(\d+)/?$").Groups[1].Value, CultureInfo.InvariantCulture)).ToArray()
            : [8080];
    }

    private static (string Context, string Dockerfile) BuildFiles(string name, JsonElement build)
    {
        var context = Path.GetFullPath(Scalar(build.GetProperty("context")), Root);
        Assert.True(Directory.Exists(context), $"{name}: the build context {context} does not exist");
        var dockerfile = Path.GetFullPath(build.TryGetProperty("dockerfile", out var file) ? Scalar(file) : "Dockerfile", context);
        Assert.True(File.Exists(dockerfile), $"{name}: the Dockerfile {dockerfile} does not exist");
        return (context, dockerfile);
    }

    /// <summary>The Dockerfile's instructions, continuation lines joined, comments dropped.</summary>
    private static List<(string Instruction, string[] Arguments)> Instructions(string dockerfile)
    {
        var instructions = new List<(string, string[])>();
        var pending = string.Empty;
        foreach (var line in File.ReadAllLines(dockerfile))
        {
            if (line.TrimStart().StartsWith('#'))
            {
                continue;
            }

            pending += line.EndsWith('\\') ? line[..^1] + " " : line;
            if (line.EndsWith('\\'))
            {
                continue;
            }

            var text = pending.Trim();
            pending = string.Empty;
            if (text.Length == 0)
            {
                continue;
            }

            var space = text.IndexOfAny([' ', '\t']);
            var rest = space < 0 ? string.Empty : text[(space + 1)..].Trim();
            var arguments = rest.StartsWith('[') ? JsonSerializer.Deserialize<string[]>(rest)! : rest.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            instructions.Add((space < 0 ? text.ToUpperInvariant() : text[..space].ToUpperInvariant(), arguments));
        }

        return instructions;
    }

    private static IEnumerable<string> Sources(string[] copyArguments) =>
        copyArguments.Where(static a => !a.StartsWith("--", StringComparison.Ordinal)).SkipLast(1);

    /// <summary>
    /// <paramref name="arguments"/> with <c>$NAME</c> and <c>${NAME}</c> replaced as Docker and the
    /// entry point's shell would: build args (compose's, else the final stage's defaults), then ENV.
    /// </summary>
    private static string[] ResolveVariables(string name, List<(string Instruction, string[] Arguments)> instructions, Dictionary<string, string> args, string[] arguments)
    {
        var finalStage = instructions.FindLastIndex(static i => i.Instruction == "FROM");
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (instruction, values) in instructions.Skip(finalStage))
        {
            foreach (var assignment in instruction is "ARG" or "ENV" ? values : [])
            {
                var equals = assignment.IndexOf('=', StringComparison.Ordinal);
                var key = equals < 0 ? assignment : assignment[..equals];
                var value = instruction == "ARG" && args.TryGetValue(key, out var given) ? given
                    : equals < 0 ? null
                    : Substitute(assignment[(equals + 1)..], variables);
                if (value is not null)
                {
                    variables[key] = value;
                }
            }
        }

        var resolved = arguments.Select(a => Substitute(a, variables)).ToArray();
        Assert.True(!resolved.Any(static a => Regex.IsMatch(a, @"\$\{?\w+\}?\.dll")), $"{name}: the ENTRYPOINT ({string.Join(' ', resolved)}) names a variable no ARG or ENV sets");
        return resolved;
    }

    private static string Substitute(string text, Dictionary<string, string> variables) =>
        Regex.Replace(text, @"\$\{(\w+)\}|\$(\w+)", m => variables.TryGetValue(m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value, out var v) ? v : m.Value);

    /// <summary>The project and every project it references, transitively.</summary>
    private static HashSet<string> ProjectClosure(string projectFile)
    {
        var projects = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([Path.GetFullPath(projectFile)]);
        while (pending.TryPop(out var project))
        {
            if (projects.Add(project))
            {
                foreach (var reference in XDocument.Load(project).Descendants("ProjectReference"))
                {
                    pending.Push(Path.GetFullPath(reference.Attribute("Include")!.Value.Replace('\\', '/'), Path.GetDirectoryName(project)!));
                }
            }
        }

        return projects;
    }

    private static string AssemblyName(string projectFile) =>
        XDocument.Load(projectFile).Descendants("AssemblyName").Select(static e => e.Value.Trim()).LastOrDefault(static v => v.Length > 0)
        ?? Path.GetFileNameWithoutExtension(projectFile);

    private static (string Source, string Target)? BindMount(JsonElement volume)
    {
        if (volume.ValueKind == JsonValueKind.Object)
        {
            return volume.GetProperty("type").GetString() == "bind" ? (Scalar(volume.GetProperty("source")), Scalar(volume.GetProperty("target"))) : null;
        }

        var parts = Scalar(volume).Split(':');
        return parts.Length >= 2 && (parts[0].StartsWith('/') || parts[0].StartsWith('.')) ? (Path.GetFullPath(parts[0], Root), parts[1]) : null;
    }

    private static IEnumerable<(string Name, JsonElement Service)> ServicesOf(JsonElement config) =>
        config.GetProperty("services").EnumerateObject().Select(static s => (s.Name, s.Value));

    private static JsonElement Service(JsonElement config, string name)
    {
        Assert.True(config.GetProperty("services").TryGetProperty(name, out var service), $"docker-compose.yml has no service {name}");
        return service;
    }

    private static Dictionary<string, string> EnvironmentOf(JsonElement service)
    {
        var environment = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (!service.TryGetProperty("environment", out var variables))
        {
            return environment;
        }

        foreach (var (key, value) in variables.ValueKind == JsonValueKind.Object
            ? variables.EnumerateObject().Select(static v => (v.Name, Scalar(v.Value)))
            : variables.EnumerateArray().Select(static v => Scalar(v).Split('=', 2)).Select(static kv => (kv[0], kv.ElementAtOrDefault(1) ?? string.Empty)))
        {
            // The binder folds case; Docker does not. Two spellings of one key would bind one arbitrarily.
            Assert.True(environment.TryAdd(key, value), $"{key} is set twice, in two spellings");
        }

        return environment;
    }

    private static string HealthcheckCommand(JsonElement health) =>
        !health.TryGetProperty("test", out var test) ? string.Empty
        : test.ValueKind == JsonValueKind.Array ? string.Join(' ', test.EnumerateArray().Select(Scalar))
        : Scalar(test);

    private static bool IsTrue(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.True;

    private static string Scalar(JsonElement value) =>
        value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();

    private static async Task<JsonElement> LoadConfigAsync()
    {
        var (exitCode, output, error) = await ComposeConfigAsync(Secrets);
        Assert.True(exitCode == 0, $"docker-compose config failed ({exitCode}): {error}");

        // docker-compose is Python with PyYAML; its own interpreter is the one sure to have it.
        var python = PythonOf(Executable("docker-compose")!) ?? "python3";
        var (pythonExit, json, pythonError) = await RunAsync(python, ["-c", "import sys,json,yaml;json.dump(yaml.safe_load(sys.stdin),sys.stdout)"], null, output);
        Assert.True(pythonExit == 0, $"{python} could not turn the YAML into JSON ({pythonExit}): {pythonError}");
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static async Task<(int ExitCode, string Output, string Error)> ComposeConfigAsync(Dictionary<string, string> secrets)
    {
        var compose = Executable("docker-compose");
        Assert.True(compose is not null, "docker-compose is not installed: scripts/test.sh installs it (apt-get install docker-compose), or install it yourself and run the tests again.");

        // Compose reads .env next to the file: a developer's real one must neither supply a
        // secret this test leaves out nor leak into the output.
        var emptyEnvFile = Path.GetTempFileName();
        try
        {
            var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var variable in Secrets.Keys)
            {
                environment[variable] = secrets.GetValueOrDefault(variable);
            }

            foreach (var key in Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(static k => k.StartsWith("COMPOSE_", StringComparison.Ordinal)))
            {
                environment[key] = null;
            }

            return await RunAsync(compose!, ["-f", Path.Combine(Root, "docker-compose.yml"), "--env-file", emptyEnvFile, "config"], environment, null);
        }
        finally
        {
            File.Delete(emptyEnvFile);
        }
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(string fileName, string[] arguments, Dictionary<string, string?>? environment, string? input)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? [])
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(input ?? string.Empty);
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within 60 s");
        }

        return (process.ExitCode, await output, await error);
    }

    private static string? Executable(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(directory => Path.Combine(directory, name))
            .FirstOrDefault(File.Exists);

    /// <summary>The interpreter of a Python script's <c>#!</c> line; null for a binary (Compose v2).</summary>
    private static string? PythonOf(string script)
    {
        using var reader = new StreamReader(script);
        var first = reader.ReadLine() ?? string.Empty;
        var interpreter = first.StartsWith("#!", StringComparison.Ordinal) ? first[2..].Trim().Split(' ')[0] : null;
        return interpreter is not null && Path.GetFileName(interpreter).StartsWith("python", StringComparison.Ordinal) && File.Exists(interpreter) ? interpreter : null;
    }
}
