using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace SessionCache.Client.Internals;

/// <summary>
/// Checks what the configuration binder would only fail on with a conversion error: a value
/// that is not one of an enum's names gets a message that names the key and lists what is valid.
/// </summary>
internal static class ConfigurationChecks
{
    /// <summary>Throws <see cref="OptionsValidationException"/> naming every enum-typed key of <paramref name="optionsType"/> with an unknown value.</summary>
    public static void ThrowOnUnknownEnumValues(IConfigurationSection section, Type optionsType)
    {
        var failures = new List<string>();
        Collect(section, optionsType, failures, depth: 0);
        if (failures.Count > 0)
        {
            throw new OptionsValidationException(section.Path, optionsType, failures);
        }
    }

    private static void Collect(IConfigurationSection section, Type type, List<string> failures, int depth)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var child = section.GetSection(property.Name);
            var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (propertyType.IsEnum)
            {
                if (child.Value is { Length: > 0 } value && !Enum.TryParse(propertyType, value, ignoreCase: true, out _))
                {
                    failures.Add($"{child.Path} is '{value}'; it must be one of: {string.Join(", ", Enum.GetNames(propertyType))}.");
                }
            }
            else if (depth < 3 && propertyType.IsClass && propertyType != typeof(string) && propertyType.Namespace?.StartsWith("SessionCache", StringComparison.Ordinal) == true)
            {
                Collect(child, propertyType, failures, depth + 1);
            }
        }
    }
}
