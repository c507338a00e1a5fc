namespace MLNetSlim.Samples.Train;

/// <summary>Minimal "--name value" command-line parsing (kept tiny on purpose; use System.CommandLine in real apps).</summary>
internal static class Args
{
    /// <summary>The value after <paramref name="name"/>, or null when the option is absent.</summary>
    public static string? Get(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        if (i < 0) return null;
        if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            throw new ArgumentException($"Option {name} needs a value.");
        return args[i + 1];
    }

    /// <summary>The value after <paramref name="name"/>; throws when the option is absent.</summary>
    public static string Require(string[] args, string name) =>
        Get(args, name) ?? throw new ArgumentException($"Missing option {name}.");
}
