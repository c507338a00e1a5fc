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

    /// <summary>A new empty temporary folder; the caller deletes it.</summary>
    public static string NewTempFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), "mlnetslim-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return folder;
    }
}
