using MLNetSlim.Data;
using MLNetSlim.Datasets;

namespace MLNetSlim.Tests.Datasets;

[TestClass]
public class ComposedScenesTests
{
    private static LabeledImages Squares(byte label, int count) =>
        new(Enumerable.Repeat((byte)255, count * 28 * 28).ToArray(), count, 28, 28, Enumerable.Repeat(label, count).ToArray(),
            Enumerable.Range(0, 10).Select(i => i.ToString()).ToArray());

    [TestMethod]
    public void Scenes_AreSeeded_AndTheirLabelsAreConsistent()
    {
        // Solid squares: digits of class 7 (seg 8), garments of class 3 (seg 14); every pixel of an item is on its mask.
        LabeledImages digits = Squares(7, 3), garments = Squares(3, 2);
        MultiTaskDataset a = ComposedScenes.Create(digits, garments, 40, seed: 5);
        MultiTaskDataset b = ComposedScenes.Create(digits, garments, 40, seed: 5);
        CollectionAssert.AreEqual(a.Images, b.Images);
        CollectionAssert.AreEqual(a.PixelLabels[0], b.PixelLabels[0]);
        CollectionAssert.AreNotEqual(a.Images, ComposedScenes.Create(digits, garments, 40, seed: 6).Images);
        Assert.AreEqual((1, 64, 64), (a.Channels, a.Height, a.Width));
        CollectionAssert.AreEquivalent(new[] { "seg", "depth", "edges", "front" }, a.Tasks.Select(t => t.Name).ToArray());

        float[] seg = a.PixelLabels[0]!, depth = a.PixelLabels[1]!, edges = a.PixelLabels[2]!;
        CollectionAssert.IsSubsetOf(seg.Distinct().ToArray(), new[] { 0f, 8f, 14f });
        CollectionAssert.IsSubsetOf(depth.Distinct().ToArray(), new[] { 10f, 8f, 6f, 4f, 2f });
        for (int n = 0; n < a.Count; n++)
        {
            int o = n * 64 * 64;
            // Background: depth 10, intensity 0; items: intensity 1 (solid squares).
            for (int p = 0; p < 64 * 64; p++)
            {
                Assert.AreEqual(seg[o + p] == 0, depth[o + p] == 10, $"scene {n} pixel {p}");
                Assert.AreEqual(seg[o + p] == 0 ? 0f : 1f, a.Images[o + p]);
            }
            // The front-most item is visible: the nearest depth in the scene has the front class.
            float nearest = depth.AsSpan(o, 64 * 64).ToArray().Min();
            int frontPixel = Array.IndexOf(depth, nearest, o, 64 * 64);
            Assert.AreEqual(a.Labels[3][n] + 1, (int)seg[frontPixel], $"scene {n}");
            // A class change between 4-neighbours is always an edge on both sides.
            for (int y = 0; y < 64; y++)
                for (int x = 0; x < 63; x++)
                    if (seg[o + y * 64 + x] != seg[o + y * 64 + x + 1])
                        Assert.IsTrue(edges[o + y * 64 + x] == 1 && edges[o + y * 64 + x + 1] == 1, $"scene {n} ({y}, {x})");
        }
    }

    [TestMethod]
    public async Task RealItems_GiveManyClasses_FromTheirOwnSplit()
    {
        LabeledImages mnist = await TestData.MnistAsync(DataSplit.Test);
        LabeledImages fashion = await TestData.FashionMnistAsync(DataSplit.Test);
        MultiTaskDataset scenes = ComposedScenes.Create(mnist, fashion, 200, seed: 0);
        Assert.AreEqual(200, scenes.Count);
        int classes = scenes.PixelLabels[0]!.Distinct().Count();
        Assert.IsTrue(classes >= 18, $"{classes} of 21 segmentation classes in 200 scenes");
        Assert.IsTrue(scenes.Labels[3].Distinct().Count() >= 15);
        double edgeShare = scenes.PixelLabels[2]!.Average();
        Assert.IsTrue(edgeShare > 0.02 && edgeShare < 0.4, $"edge share {edgeShare}");
    }
}
