using static TorchSharp.torch;
using MLNetSlim.Architecture;
using MLNetSlim.Data;

namespace MLNetSlim.Datasets;

/// <summary>Where one Multi-(Fashion+MNIST) sample comes from and where its two items sit on the 36x36 canvas.</summary>
/// <param name="MnistIndex">Index of the digit in the MNIST split.</param>
/// <param name="FashionIndex">Index of the item in the Fashion-MNIST split.</param>
/// <param name="DigitRow">Canvas row of the digit's top-left pixel (0 without shift).</param>
/// <param name="DigitColumn">Canvas column of the digit's top-left pixel (0 without shift).</param>
/// <param name="FashionRow">Canvas row of the fashion item's top-left pixel (8 without shift).</param>
/// <param name="FashionColumn">Canvas column of the fashion item's top-left pixel (8 without shift).</param>
public readonly record struct OverlayPlacement(int MnistIndex, int FashionIndex, int DigitRow, int DigitColumn, int FashionRow, int FashionColumn);

/// <summary>
/// Multi-(Fashion+MNIST), the two-task benchmark of Sener and Koltun (2018) and Lin et al. (2019, Pareto MTL): an MNIST
/// digit at the top-left and a Fashion-MNIST item at the bottom-right of one image; task <c>"digit"</c> classifies the
/// digit (10 classes), task <c>"fashion"</c> the item (10 classes).
/// </summary>
/// <remarks>
/// <para>Protocol (also in docs/data.md). Sample i of a split is made from the same split of both sources:</para>
/// <list type="number">
/// <item>Pairing: a SplitMix64 generator seeded with <c>(ulong)seed</c> draws integers below a bound b as
/// floor((next &gt;&gt; 32) · b / 2³²) (exact 64-bit arithmetic); it first shuffles the MNIST indices 0..Nm−1, then the Fashion indices 0..Nf−1, each by Fisher–Yates from the end
/// (for k = N−1 down to 1 swap k with a draw below k+1). Sample i pairs MNIST permutation[i mod Nm] with Fashion
/// permutation[i mod Nf]. A smaller <c>count</c> gives a prefix of the full set.</item>
/// <item>Placement on a black 36x36 canvas: the digit's 28x28 image at rows/columns [0, 28), the item's at [8, 36); they
/// overlap in a 20x20 square. With <c>maxShift</c> = s &gt; 0 each item moves towards the centre by independent integer
/// amounts in [0, s] per axis, drawn after the shuffles in the order digit row, digit column, item row, item column for
/// sample 0, 1, ... (each a draw below s+1). The default s = 0 draws nothing.</item>
/// <item>Combination: pixel-wise maximum of the two bytes, divided by 255.</item>
/// <item>Resize 36x36 → 28x28 with bilinear interpolation, antialias on, align_corners false
/// (<c>torch.nn.functional.interpolate</c>), in batches of up to 4,096 images, clamped to [0, 1].</item>
/// </list>
/// <para>The same seed gives the same data bit for bit (on a given machine and libtorch build).</para>
/// </remarks>
public static class MultiFashionMnist
{
    /// <summary>Name of the top-left digit task.</summary>
    public const string DigitTask = "digit";

    /// <summary>Name of the bottom-right fashion task.</summary>
    public const string FashionTask = "fashion";

    /// <summary>Side of the canvas the two items are placed on.</summary>
    public const int CanvasSize = 36;

    /// <summary>Side of the resized images.</summary>
    public const int ImageSize = 28;

    /// <summary>Canvas row and column of the bottom-right item's top-left pixel without shift.</summary>
    public const int FashionOffset = CanvasSize - 28;

    private const int BatchSize = 4096;

    /// <summary>The two tasks, in label order: digit (10 classes), fashion (10 classes).</summary>
    public static IReadOnlyList<TaskDefinition> Tasks { get; } =
    [
        new TaskDefinition(DigitTask, TaskKind.Classification, 10, Mnist.ClassNames),
        new TaskDefinition(FashionTask, TaskKind.Classification, 10, FashionMnist.ClassNames),
    ];

    /// <summary>Loads MNIST and Fashion-MNIST and builds the data set.</summary>
    /// <param name="split">Train (from the train files) or test (from the t10k files).</param>
    /// <param name="count">Number of samples; min(Nm, Nf) (60,000 or 10,000) when null.</param>
    /// <param name="seed">Seed of pairing and shifts.</param>
    /// <param name="mnistPath">Folder of the MNIST IDX files; see <see cref="Mnist.Load"/>.</param>
    /// <param name="fashionPath">Folder of the Fashion-MNIST IDX files; see <see cref="FashionMnist.Load"/>.</param>
    /// <param name="maxShift">Largest shift of each item towards the centre, 0 to 8 (default 0: fixed corners).</param>
    /// <exception cref="DataUnavailableException">A data set's files are not there.</exception>
    /// <exception cref="InvalidDataException">A file is malformed.</exception>
    public static MultiTaskDataset Load(
        DataSplit split = DataSplit.Train, int? count = null, int seed = 0, string? mnistPath = null, string? fashionPath = null, int maxShift = 0) =>
        Create(Mnist.Load(split, mnistPath), FashionMnist.Load(split, fashionPath), count, seed, maxShift);

    /// <summary>Builds the data set from loaded sources (see the class remarks for the protocol).</summary>
    /// <param name="mnist">MNIST images (28x28) and labels.</param>
    /// <param name="fashion">Fashion-MNIST images (28x28) and labels.</param>
    /// <param name="count">Number of samples; min(Nm, Nf) when null.</param>
    /// <param name="seed">Seed of pairing and shifts.</param>
    /// <param name="maxShift">Largest shift of each item towards the centre, 0 to 8 (default 0: fixed corners).</param>
    /// <returns>(N, 1, 28, 28) float32 images in [0, 1]; tasks <see cref="Tasks"/>.</returns>
    /// <exception cref="ArgumentException">A source is empty or not 28x28.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A negative count or a shift outside [0, 8].</exception>
    public static MultiTaskDataset Create(LabeledImages mnist, LabeledImages fashion, int? count = null, int seed = 0, int maxShift = 0)
    {
        foreach ((LabeledImages source, string name) in new[] { (mnist, nameof(mnist)), (fashion, nameof(fashion)) })
            if (source.Height != 28 || source.Width != 28 || source.Count == 0)
                throw new ArgumentException($"Needs a non-empty set of 28x28 images, got {source.Count} of {source.Height}x{source.Width}.", name);
        int n = count ?? Math.Min(mnist.Count, fashion.Count);
        IReadOnlyList<OverlayPlacement> plan = Plan(mnist.Count, fashion.Count, n, seed, maxShift);

        const int canvasPixels = CanvasSize * CanvasSize, outPixels = ImageSize * ImageSize;
        var images = new float[(long)n * outPixels];
        var digits = new int[n];
        var items = new int[n];
        var canvas = new byte[Math.Min(n, BatchSize) * canvasPixels];
        var floats = new float[canvas.Length];
        for (int start = 0; start < n; start += BatchSize)
        {
            int batch = Math.Min(BatchSize, n - start);
            Array.Clear(canvas);
            for (int b = 0; b < batch; b++)
            {
                OverlayPlacement p = plan[start + b];
                Span<byte> target = canvas.AsSpan(b * canvasPixels, canvasPixels);
                Paste(target, mnist.Image(p.MnistIndex), p.DigitRow, p.DigitColumn);
                Paste(target, fashion.Image(p.FashionIndex), p.FashionRow, p.FashionColumn);
                digits[start + b] = mnist.Labels[p.MnistIndex];
                items[start + b] = fashion.Labels[p.FashionIndex];
            }
            for (int k = 0; k < batch * canvasPixels; k++) floats[k] = canvas[k] / 255f;

            using var scope = NewDisposeScope();
            Tensor input = tensor(floats.AsSpan(0, batch * canvasPixels).ToArray(), [batch, 1, CanvasSize, CanvasSize]);
            Tensor resized = nn.functional.interpolate(input, size: [ImageSize, ImageSize], mode: InterpolationMode.Bilinear,
                align_corners: false, antialias: true).clamp_(0f, 1f).contiguous();
            resized.data<float>().CopyTo(images, (int)((long)start * outPixels));
        }
        return new MultiTaskDataset(images, 1, ImageSize, ImageSize, Tasks, [digits, items]);
    }

    /// <summary>The seeded pairing and placement of each sample (steps 1 and 2 of the protocol in the class remarks).</summary>
    /// <param name="mnistCount">Nm, images in the MNIST split.</param>
    /// <param name="fashionCount">Nf, images in the Fashion-MNIST split.</param>
    /// <param name="count">Number of samples.</param>
    /// <param name="seed">Seed.</param>
    /// <param name="maxShift">Largest shift of each item towards the centre, 0 to 8.</param>
    /// <exception cref="ArgumentOutOfRangeException">A non-positive source size, a negative count or a shift outside [0, 8].</exception>
    public static IReadOnlyList<OverlayPlacement> Plan(int mnistCount, int fashionCount, int count, int seed, int maxShift = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(mnistCount);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(fashionCount);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (maxShift < 0 || maxShift > FashionOffset)
            throw new ArgumentOutOfRangeException(nameof(maxShift), maxShift, $"The shift must be in [0, {FashionOffset}].");
        var random = new SplitMix64(unchecked((ulong)seed));
        int[] mnistOrder = random.Permutation(mnistCount);
        int[] fashionOrder = random.Permutation(fashionCount);
        var plan = new OverlayPlacement[count];
        for (int i = 0; i < count; i++)
        {
            int dr = 0, dc = 0, fr = 0, fc = 0;
            if (maxShift > 0)
            {
                dr = random.Below(maxShift + 1);
                dc = random.Below(maxShift + 1);
                fr = random.Below(maxShift + 1);
                fc = random.Below(maxShift + 1);
            }
            plan[i] = new OverlayPlacement(mnistOrder[i % mnistCount], fashionOrder[i % fashionCount],
                dr, dc, FashionOffset - fr, FashionOffset - fc);
        }
        return plan;
    }

    private static void Paste(Span<byte> canvas, ReadOnlySpan<byte> image, int row, int column)
    {
        for (int r = 0; r < 28; r++)
        {
            Span<byte> line = canvas.Slice((row + r) * CanvasSize + column, 28);
            ReadOnlySpan<byte> source = image.Slice(r * 28, 28);
            for (int c = 0; c < 28; c++)
                if (source[c] > line[c]) line[c] = source[c];
        }
    }
}
