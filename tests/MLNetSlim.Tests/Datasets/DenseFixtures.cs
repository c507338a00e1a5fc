using MLNetSlim.Data;
using MLNetSlim.Datasets;

namespace MLNetSlim.Tests.Datasets;

/// <summary>Small NYUD_MT and PASCAL_MT folders in the real on-disk layout (docs/data.md), with train and val splits, for
/// the tests that train on them.</summary>
internal static class DenseFixtures
{
    /// <summary>Writes a NYUD_MT folder: <paramref name="train"/> and <paramref name="val"/> images of H x W, every task.</summary>
    public static string Nyud(int train, int val, int h, int w)
    {
        string root = TestData.NewTempFolder();
        DenseSceneLoaderTests.WriteNyud(root, h, w, "train", Ids("nyu", 0, train));
        DenseSceneLoaderTests.WriteNyud(root, h, w, "val", Ids("nyu", train, val));
        return root;
    }

    /// <summary>Writes a PASCAL_MT folder: images of H x W (every other one a pixel taller, as PASCAL images differ in
    /// size), semseg (VOC12 palette PNGs, 21 classes, some 255), human parts (all zero for the first training image: no people),
    /// saliency, normals (RGB PNG) and edges.</summary>
    public static string Pascal(int train, int val, int h, int w)
    {
        string root = TestData.NewTempFolder();
        var rng = new Random(7);
        foreach ((string split, string[] ids) in new[] { ("train", Ids("2008_", 0, train)), ("val", Ids("2008_", train, val)) })
        {
            Directory.CreateDirectory(Path.Combine(root, "ImageSets", "Context"));
            File.WriteAllLines(Path.Combine(root, "ImageSets", "Context", split + ".txt"), ids);
            for (int k = 0; k < ids.Length; k++)
            {
                string id = ids[k];
                int ih = h + (k % 2), n = ih * w;
                DenseSceneLoaderTests.WriteJpeg(Path.Combine(root, "JPEGImages", id + ".jpg"), ih, w, k + 1);
                Png(root, "semseg/VOC12", id, Enumerable.Range(0, n).Select(i => i % 17 == 0 ? 255f : rng.Next(21)).ToArray(), ih, w, palette: true);
                Png(root, "human_parts", id, Enumerable.Range(0, n).Select(_ => split == "train" && k == 0 ? 0f : rng.Next(7)).ToArray(), ih, w);
                Png(root, "sal_distill", id, Enumerable.Range(0, n).Select(_ => (float)rng.Next(256)).ToArray(), ih, w);
                Png(root, "normals_distill", id, Enumerable.Range(0, 3 * n).Select(_ => (float)rng.Next(256)).ToArray(), ih, w, channels: 3);
                Png(root, "edge", id, Enumerable.Range(0, n).Select(_ => rng.Next(4) == 0 ? 255f : 0f).ToArray(), ih, w);
            }
        }
        return root;
    }

    private static string[] Ids(string prefix, int from, int count) =>
        Enumerable.Range(from, count).Select(i => prefix + i.ToString("000000", System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    private static void Png(string root, string folder, string id, float[] values, int h, int w, int channels = 1, bool palette = false)
    {
        string path = Path.Combine(root, folder, id + ".png");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        LabelMapPng.Write(path, values, h, w, 8, channels: channels, palette: palette);
    }
}
