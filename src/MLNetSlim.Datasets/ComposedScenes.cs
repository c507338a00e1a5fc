using MLNetSlim.Architecture;
using MLNetSlim.Data;

namespace MLNetSlim.Datasets;

/// <summary>
/// Composed scenes: a dense multi-task benchmark built from real MNIST digits and Fashion-MNIST items pasted on a 64x64
/// canvas with occlusion by z-order. Four tasks: <c>"seg"</c> semantic segmentation of 21 classes (0 background,
/// 1-10 digits 0-9, 11-20 garments 0-9), <c>"depth"</c> a layered depth map, <c>"edges"</c> the visible item outlines and
/// <c>"front"</c> the class (0-19, digits then garments) of the front-most item.
/// </summary>
/// <remarks>
/// <para>Protocol (also in docs/data.md). A SplitMix64 generator seeded with <c>(ulong)seed</c> (the same generator and
/// bounded draw as <see cref="MultiFashionMnist"/>) makes, for scene 0, 1, ...: the item count k = 2 + draw below 3
/// (2 to 4); then for each item j = 0 (back) .. k-1 (front): the source (draw below 2: 0 MNIST, 1 Fashion-MNIST), the
/// index within that source's split (draw below its count), the side s = 20 + draw below 21 (20 to 40 px), the top row
/// and left column (each a draw below 64 - s + 1).</para>
/// <para>Each item's 28x28 image is resized to s x s by bilinear interpolation with half-pixel centres (no antialias);
/// its pixels with intensity &gt;= 0.3 form its mask. Items are pasted back to front: on its mask an item overwrites the
/// canvas intensity (its resized value), the class map, and the instance map. Depth: background 10, item j at depth
/// 8 - 2j (8, 6, 4, 2: the front-most item is nearest). Edges: 1 where a 4-neighbour inside the canvas belongs to a
/// different instance (background counts as one), so an outline is two pixels wide, one on each side.
/// "front" = class of item k - 1 (always visible: nothing is pasted after it, and its mask is never empty for real
/// items of at least 20x20 px; a scene where it is would still get its class).</para>
/// <para>Train and test scenes come from the train and test files of both sources, so no item appears in both.
/// The same seed and sources give the same scenes bit for bit.</para>
/// </remarks>
public static class ComposedScenes
{
    /// <summary>Canvas side, pixels.</summary>
    public const int Size = 64;

    /// <summary>Mask threshold on a resized item's intensity.</summary>
    public const float MaskThreshold = 0.3f;

    /// <summary>Depth of the background (farthest).</summary>
    public const float BackgroundDepth = 10;

    /// <summary>The tasks, in label order: seg (21 classes), depth, edges, front (20 classes).</summary>
    public static IReadOnlyList<TaskDefinition> Tasks { get; } =
    [
        new TaskDefinition("seg", TaskKind.Segmentation, 21,
            ["background", .. Mnist.ClassNames.Select(n => "digit " + n), .. FashionMnist.ClassNames]),
        TaskDefinition.PerPixel("depth", TaskKind.Depth),
        TaskDefinition.PerPixel("edges", TaskKind.Edges),
        new TaskDefinition("front", TaskKind.Classification, 20,
            [.. Mnist.ClassNames.Select(n => "digit " + n), .. FashionMnist.ClassNames]),
    ];

    /// <summary>Loads MNIST and Fashion-MNIST and composes <paramref name="count"/> scenes.</summary>
    /// <exception cref="DataUnavailableException">A data set's files are not there.</exception>
    public static MultiTaskDataset Load(DataSplit split, int count, int seed = 0, string? mnistPath = null, string? fashionPath = null) =>
        Create(Mnist.Load(split, mnistPath), FashionMnist.Load(split, fashionPath), count, seed);

    /// <summary>Composes <paramref name="count"/> scenes from loaded 28x28 sources (see the class remarks).</summary>
    /// <exception cref="ArgumentException">A source is empty or not 28x28, or the count is negative.</exception>
    public static MultiTaskDataset Create(LabeledImages mnist, LabeledImages fashion, int count, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        foreach (LabeledImages source in new[] { mnist, fashion })
            if (source.Count == 0 || source.Height != 28 || source.Width != 28)
                throw new ArgumentException($"Sources must be non-empty 28x28 image sets; got {source.Count} of {source.Height}x{source.Width}.");
        const int pixels = Size * Size;
        var images = new float[count * pixels];
        var seg = new float[count * pixels];
        var depth = new float[count * pixels];
        var edges = new float[count * pixels];
        var front = new int[count];
        var random = new SplitMix64(unchecked((ulong)seed));
        var instance = new int[pixels];
        for (int n = 0; n < count; n++)
        {
            Span<float> image = images.AsSpan(n * pixels, pixels);
            Span<float> classes = seg.AsSpan(n * pixels, pixels);
            Span<float> z = depth.AsSpan(n * pixels, pixels);
            z.Fill(BackgroundDepth);
            Array.Clear(instance);
            int k = 2 + random.Below(3);
            for (int j = 0; j < k; j++)
            {
                bool isFashion = random.Below(2) == 1;
                LabeledImages source = isFashion ? fashion : mnist;
                int index = random.Below(source.Count);
                int s = 20 + random.Below(21);
                int top = random.Below(Size - s + 1), left = random.Below(Size - s + 1);
                int cls = source.Labels[index] + (isFashion ? 10 : 0);
                float[] item = Resize(source.Image(index), 28, s);
                for (int y = 0; y < s; y++)
                    for (int x = 0; x < s; x++)
                    {
                        float v = item[y * s + x];
                        if (v < MaskThreshold) continue;
                        int p = (top + y) * Size + left + x;
                        image[p] = v;
                        classes[p] = cls + 1;
                        z[p] = 8 - 2 * j;
                        instance[p] = j + 1;
                    }
                if (j == k - 1) front[n] = cls;
            }
            Span<float> e = edges.AsSpan(n * pixels, pixels);
            for (int y = 0; y < Size; y++)
                for (int x = 0; x < Size; x++)
                {
                    int id = instance[y * Size + x];
                    bool edge = (x > 0 && instance[y * Size + x - 1] != id) || (x < Size - 1 && instance[y * Size + x + 1] != id)
                        || (y > 0 && instance[(y - 1) * Size + x] != id) || (y < Size - 1 && instance[(y + 1) * Size + x] != id);
                    e[y * Size + x] = edge ? 1 : 0;
                }
        }
        return new MultiTaskDataset(images, 1, Size, Size, Tasks, [[], [], [], front], [seg, depth, edges, null]);
    }

    /// <summary>Bilinear resize of a square byte image (0-255) to side <paramref name="to"/>, half-pixel centres, as
    /// values in [0, 1].</summary>
    internal static float[] Resize(ReadOnlySpan<byte> source, int from, int to)
    {
        var result = new float[to * to];
        double scale = (double)from / to;
        for (int y = 0; y < to; y++)
        {
            double sy = Math.Max(0, (y + 0.5) * scale - 0.5);
            int y0 = Math.Min((int)sy, from - 1), y1 = Math.Min(y0 + 1, from - 1);
            double fy = sy - y0;
            for (int x = 0; x < to; x++)
            {
                double sx = Math.Max(0, (x + 0.5) * scale - 0.5);
                int x0 = Math.Min((int)sx, from - 1), x1 = Math.Min(x0 + 1, from - 1);
                double fx = sx - x0;
                double v = (1 - fy) * ((1 - fx) * source[y0 * from + x0] + fx * source[y0 * from + x1])
                    + fy * ((1 - fx) * source[y1 * from + x0] + fx * source[y1 * from + x1]);
                result[y * to + x] = (float)(v / 255.0);
            }
        }
        return result;
    }
}
