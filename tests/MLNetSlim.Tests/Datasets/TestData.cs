using System.Collections.Concurrent;
using MLNetSlim.Datasets;
using MLNetSlim.SampleData;

namespace MLNetSlim.Tests;

/// <summary>
/// Real data for tests: fetches MNIST and Fashion-MNIST once per test run through <see cref="DataFetcher"/> (data root:
/// MLNETSLIM_DATA or ~/.cache/mlnetslim; Fashion-MNIST may also come from /usr/share/datasets/fashion-mnist) and caches
/// the loaded splits. Any test class may call it; no assembly initialiser is needed.
/// </summary>
public static class TestData
{
    private static readonly Lazy<Task<DataFolders>> Folders = new(
        () => new DataFetcher(log: line => Console.WriteLine("[fetch] " + line)).EnsureAsync());

    private static readonly ConcurrentDictionary<(string, DataSplit), Lazy<Task<LabeledImages>>> Loaded = new();

    /// <summary>Makes sure both data sets are on disk (fetching them at most once per run) and returns their folders.</summary>
    public static Task<DataFolders> EnsureAsync() => Folders.Value;

    /// <summary>MNIST, loaded once per split.</summary>
    public static Task<LabeledImages> MnistAsync(DataSplit split) =>
        Loaded.GetOrAdd(("mnist", split), key => new Lazy<Task<LabeledImages>>(async () =>
        {
            DataFolders folders = await EnsureAsync();
            return await Task.Run(() => Mnist.Load(key.Item2, folders.Mnist));
        })).Value;

    /// <summary>Fashion-MNIST, loaded once per split.</summary>
    public static Task<LabeledImages> FashionMnistAsync(DataSplit split) =>
        Loaded.GetOrAdd(("fashion", split), key => new Lazy<Task<LabeledImages>>(async () =>
        {
            DataFolders folders = await EnsureAsync();
            return await Task.Run(() => FashionMnist.Load(key.Item2, folders.FashionMnist));
        })).Value;

    private static readonly Lazy<string> Root = new(() =>
    {
        string root = Path.Combine(Path.GetTempPath(), "mlnetslim-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        return root;
    });

    /// <summary>
    /// This test run's temporary folder (created on first use under the system temp folder); every test writes its
    /// temporary files under it and AssemblySetup.Cleanup deletes it when the run ends, so runs leave nothing.
    /// </summary>
    public static string TempRoot => Root.Value;

    /// <summary>A new empty temporary folder under <see cref="TempRoot"/>.</summary>
    public static string NewTempFolder()
    {
        string folder = Path.Combine(TempRoot, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }

    /// <summary>Deletes <see cref="TempRoot"/> if this run created it.</summary>
    internal static void DeleteTempRoot()
    {
        if (Root.IsValueCreated && Directory.Exists(Root.Value))
        {
            Directory.Delete(Root.Value, recursive: true);
        }
    }
}
