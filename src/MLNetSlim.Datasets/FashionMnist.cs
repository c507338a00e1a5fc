
namespace MLNetSlim.Datasets;

/// <summary>
/// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, Zalando Research; MIT licence): 28x28 gray-scale images of clothing in
/// 10 classes, 60,000 for training and 10,000 for testing.
/// </summary>
public static class FashionMnist
{
    /// <summary>The class names, indexed by label: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Loads one split.</summary>
    /// <param name="split">Train (60,000 images) or test (10,000).</param>
    /// <param name="path">
    /// A folder holding the four IDX files (raw or gzipped), or a data root with a <c>fashion-mnist</c> folder; when null,
    /// the folders of <see cref="DataLocator.FindFashionMnist"/> are searched.
    /// </param>
    /// <exception cref="DataUnavailableException">The files are not there; the message says how to get them.</exception>
    /// <exception cref="InvalidDataException">A file is malformed.</exception>
    public static LabeledImages Load(DataSplit split = DataSplit.Train, string? path = null) =>
        MnistStyle.Load("Fashion-MNIST", DataLocator.FashionMnistFolder, split, path, ClassNames,
            () => DataLocator.FindFashionMnist(), $"or 'sudo apt-get install -y {DataLocator.FashionMnistAptPackage}'");
}
