using MLNetSlim.Architecture;
using MLNetSlim.Data;

namespace MLNetSlim.Datasets;

/// <summary>
/// A two-task data set on Fashion-MNIST: every 28x28 image carries its fine label (task <c>"fine"</c>, the 10 classes)
/// and a coarse label (task <c>"coarse"</c>, 4 classes): Top = {T-shirt/top, Pullover, Dress, Coat, Shirt} = {0, 2, 3, 4, 6},
/// Trouser = {1}, Footwear = {Sandal, Sneaker, Ankle boot} = {5, 7, 9}, Bag = {8}. Images are float32 in [0, 1]
/// (byte / 255), C = 1, in file order.
/// </summary>
public static class FashionMnistFineCoarse
{
    /// <summary>Name of the fine task.</summary>
    public const string FineTask = "fine";

    /// <summary>Name of the coarse task.</summary>
    public const string CoarseTask = "coarse";

    /// <summary>Coarse class of each fine class: index = fine label, value = coarse label.</summary>
    public static IReadOnlyList<int> CoarseOfFine { get; } = [0, 1, 0, 0, 0, 2, 0, 2, 3, 2];

    /// <summary>The coarse class names: Top, Trouser, Footwear, Bag.</summary>
    public static IReadOnlyList<string> CoarseClassNames { get; } = ["Top", "Trouser", "Footwear", "Bag"];

    /// <summary>The two tasks, in label order: fine (10 classes), coarse (4 classes).</summary>
    public static IReadOnlyList<TaskDefinition> Tasks { get; } =
    [
        new TaskDefinition(FineTask, TaskKind.Classification, 10, FashionMnist.ClassNames),
        new TaskDefinition(CoarseTask, TaskKind.Classification, 4, CoarseClassNames),
    ];

    /// <summary>Loads Fashion-MNIST and builds the data set.</summary>
    /// <param name="split">Train (60,000 images) or test (10,000).</param>
    /// <param name="path">Folder of the Fashion-MNIST IDX files; see <see cref="FashionMnist.Load"/>.</param>
    /// <param name="count">At most this many images (the first ones); all when null.</param>
    /// <exception cref="DataUnavailableException">The files are not there.</exception>
    /// <exception cref="InvalidDataException">A file is malformed.</exception>
    public static MultiTaskDataset Load(DataSplit split = DataSplit.Train, string? path = null, int? count = null) =>
        Create(FashionMnist.Load(split, path), count);

    /// <summary>Builds the data set from loaded Fashion-MNIST images.</summary>
    /// <param name="fashion">Fashion-MNIST images and labels.</param>
    /// <param name="count">At most this many images (the first ones); all when null.</param>
    /// <exception cref="ArgumentOutOfRangeException">A negative count.</exception>
    public static MultiTaskDataset Create(LabeledImages fashion, int? count = null)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "The count cannot be negative.");
        int n = Math.Min(count ?? fashion.Count, fashion.Count);
        int size = fashion.ImageSize;
        var images = new float[n * size];
        ReadOnlySpan<byte> pixels = fashion.Pixels.AsSpan(0, n * size);
        for (int i = 0; i < images.Length; i++) images[i] = pixels[i] / 255f;
        var fine = new int[n];
        var coarse = new int[n];
        for (int i = 0; i < n; i++)
        {
            fine[i] = fashion.Labels[i];
            coarse[i] = CoarseOfFine[fine[i]];
        }
        return new MultiTaskDataset(images, 1, fashion.Height, fashion.Width, Tasks, [fine, coarse]);
    }
}
