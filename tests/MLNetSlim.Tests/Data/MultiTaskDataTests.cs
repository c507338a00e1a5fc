using System.Runtime.InteropServices;
using MLNetSlim.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Datasets;

namespace MLNetSlim.Tests.Data;

/// <summary>Fashion fine+coarse and Multi-(Fashion+MNIST) built from the real files.</summary>
[TestClass]
public sealed class MultiTaskDataTests
{
    [TestMethod]
    public void CoarseMappingIsTheDocumentedOne()
    {
        // tops {0,2,3,4,6}, trousers {1}, footwear {5,7,9}, bags {8}
        CollectionAssert.AreEqual(new[] { 0, 1, 0, 0, 0, 2, 0, 2, 3, 2 }, FashionMnistFineCoarse.CoarseOfFine.ToArray());
        IReadOnlyList<TaskDefinition> tasks = FashionMnistFineCoarse.Tasks;
        Assert.AreEqual("fine", tasks[0].Name);
        Assert.AreEqual(10, tasks[0].NumClasses);
        Assert.AreEqual("Ankle boot", tasks[0].ClassNames[9]);
        Assert.AreEqual("coarse", tasks[1].Name);
        Assert.AreEqual(4, tasks[1].NumClasses);
        CollectionAssert.AreEqual(new[] { "Top", "Trouser", "Footwear", "Bag" }, tasks[1].ClassNames.ToArray());
    }

    [TestMethod]
    public async Task FineCoarseOnRealFashion()
    {
        LabeledImages fashion = await TestData.FashionMnistAsync(DataSplit.Test);
        MultiTaskDataset set = FashionMnistFineCoarse.Create(fashion);
        Assert.AreEqual(10000, set.Count);
        Assert.AreEqual(1, set.Channels);
        Assert.AreEqual(28, set.Height);
        Assert.AreEqual(28, set.Width);
        // Balanced test set: 5 top classes, 1 trouser, 3 footwear, 1 bag, 1,000 images each.
        var coarseCounts = new int[4];
        foreach (int c in set.Labels[1]) coarseCounts[c]++;
        CollectionAssert.AreEqual(new[] { 5000, 1000, 3000, 1000 }, coarseCounts);
        for (int i = 0; i < set.Count; i++)
        {
            Assert.AreEqual(fashion.Labels[i], set.Labels[0][i]);
            Assert.AreEqual(FashionMnistFineCoarse.CoarseOfFine[fashion.Labels[i]], set.Labels[1][i]);
        }
        Assert.AreEqual(9, set.Labels[0][0]);   // Ankle boot ...
        Assert.AreEqual(2, set.Labels[1][0]);   // ... is footwear
        for (int k = 0; k < 784 * 3; k++) Assert.AreEqual(fashion.Pixels[k] / 255f, set.Images[k]);
        Assert.AreEqual(1f, set.Images.Max());
        Assert.AreEqual(0f, set.Images.Min());

        MultiTaskDataset small = FashionMnistFineCoarse.Create(fashion, count: 100);
        Assert.AreEqual(100, small.Count);
        CollectionAssert.AreEqual(set.Images[..(100 * 784)], small.Images);
    }

    private static async Task<(LabeledImages Mnist, LabeledImages Fashion)> SourcesAsync() =>
        (await TestData.MnistAsync(DataSplit.Test), await TestData.FashionMnistAsync(DataSplit.Test));

    [TestMethod]
    public async Task OverlayShapeRangeAndLabels()
    {
        (LabeledImages mnist, LabeledImages fashion) = await SourcesAsync();
        MultiTaskDataset set = MultiFashionMnist.Create(mnist, fashion, count: 500, seed: 3);
        Assert.AreEqual(500, set.Count);
        Assert.AreEqual(1, set.Channels);
        Assert.AreEqual(28, set.Height);
        Assert.AreEqual(28, set.Width);
        Assert.AreEqual(500 * 784, set.Images.Length);
        Assert.IsTrue(set.Images.All(v => v >= 0f && v <= 1f));
        Assert.IsGreaterThan(0.9f, set.Images.Max());
        CollectionAssert.AreEqual(new[] { "digit", "fashion" }, set.Tasks.Select(t => t.Name).ToArray());
        Assert.AreEqual("Ankle boot", set.Tasks[1].ClassNames[9]);

        IReadOnlyList<OverlayPlacement> plan = MultiFashionMnist.Plan(mnist.Count, fashion.Count, 500, seed: 3);
        for (int i = 0; i < 500; i++)
        {
            Assert.AreEqual(mnist.Labels[plan[i].MnistIndex], set.Labels[0][i]);
            Assert.AreEqual(fashion.Labels[plan[i].FashionIndex], set.Labels[1][i]);
            Assert.AreEqual(new OverlayPlacement(plan[i].MnistIndex, plan[i].FashionIndex, 0, 0, 8, 8), plan[i]);
        }
        // The pairing is a shuffle: distinct indices, not the identity.
        Assert.AreEqual(500, plan.Select(p => p.MnistIndex).Distinct().Count());
        Assert.AreEqual(500, plan.Select(p => p.FashionIndex).Distinct().Count());
        Assert.IsLessThan(10, plan.Count(p => p.MnistIndex == p.FashionIndex));
    }

    [TestMethod]
    public async Task OverlayIsDeterministicPerSeed()
    {
        (LabeledImages mnist, LabeledImages fashion) = await SourcesAsync();
        MultiTaskDataset a = MultiFashionMnist.Create(mnist, fashion, count: 300, seed: 7);
        MultiTaskDataset b = MultiFashionMnist.Create(mnist, fashion, count: 300, seed: 7);
        MultiTaskDataset c = MultiFashionMnist.Create(mnist, fashion, count: 300, seed: 8);
        Assert.IsTrue(MemoryMarshal.AsBytes(a.Images.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b.Images.AsSpan())), "same seed, same bits");
        CollectionAssert.AreEqual(a.Labels[0], b.Labels[0]);
        CollectionAssert.AreEqual(a.Labels[1], b.Labels[1]);
        Assert.IsFalse(a.Images.AsSpan().SequenceEqual(c.Images), "another seed, other images");
        CollectionAssert.AreNotEqual(a.Labels[0], c.Labels[0]);

        // A smaller count is a prefix of a larger one.
        MultiTaskDataset prefix = MultiFashionMnist.Create(mnist, fashion, count: 100, seed: 7);
        Assert.IsTrue(prefix.Images.AsSpan().SequenceEqual(a.Images.AsSpan(0, 100 * 784)));
        CollectionAssert.AreEqual(a.Labels[0][..100], prefix.Labels[0]);
    }

    [TestMethod]
    public void PlanWithShiftStaysOnCanvasAndIsSeeded()
    {
        IReadOnlyList<OverlayPlacement> plan = MultiFashionMnist.Plan(1000, 800, 2000, seed: 5, maxShift: 3);
        Assert.IsTrue(plan.All(p => p.DigitRow is >= 0 and <= 3 && p.DigitColumn is >= 0 and <= 3));
        Assert.IsTrue(plan.All(p => p.FashionRow is >= 5 and <= 8 && p.FashionColumn is >= 5 and <= 8));
        Assert.AreEqual(4, plan.Select(p => p.DigitRow).Distinct().Count());
        Assert.AreEqual(4, plan.Select(p => p.FashionColumn).Distinct().Count());
        // Past Nm (Nf) samples the pairing wraps around: sample i and i + N share their item.
        Assert.AreEqual(plan[3].MnistIndex, plan[1003].MnistIndex);
        Assert.AreEqual(plan[3].FashionIndex, plan[803].FashionIndex);
        CollectionAssert.AreEqual(plan.ToArray(), MultiFashionMnist.Plan(1000, 800, 2000, seed: 5, maxShift: 3).ToArray());
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MultiFashionMnist.Plan(10, 10, 5, 0, maxShift: 9));
    }

    [TestMethod]
    public async Task QuadrantsFollowTheirItems()
    {
        (LabeledImages mnist, LabeledImages fashion) = await SourcesAsync();
        const int n = 300;
        MultiTaskDataset set = MultiFashionMnist.Create(mnist, fashion, count: n, seed: 11);
        IReadOnlyList<OverlayPlacement> plan = MultiFashionMnist.Plan(mnist.Count, fashion.Count, n, seed: 11);
        double digitTopLeft = 0, fashionTopLeft = 0, digitBottomRight = 0, fashionBottomRight = 0;
        for (int i = 0; i < n; i++)
        {
            float[] output = set.Images[(i * 784)..((i + 1) * 784)];
            float[] digitOnly = Sampled(mnist.Image(plan[i].MnistIndex), 0);
            float[] fashionOnly = Sampled(fashion.Image(plan[i].FashionIndex), 8);
            digitTopLeft += Correlation(output, digitOnly, 0);
            fashionTopLeft += Correlation(output, fashionOnly, 0);
            digitBottomRight += Correlation(output, digitOnly, 14);
            fashionBottomRight += Correlation(output, fashionOnly, 14);
        }
        digitTopLeft /= n; fashionTopLeft /= n; digitBottomRight /= n; fashionBottomRight /= n;
        Console.WriteLine($"mean correlation: top-left digit {digitTopLeft:F3} fashion {fashionTopLeft:F3}; bottom-right digit {digitBottomRight:F3} fashion {fashionBottomRight:F3}");
        Assert.IsGreaterThan(0.6, digitTopLeft, $"top-left vs digit {digitTopLeft:F3}");
        Assert.IsGreaterThan(fashionTopLeft + 0.2, digitTopLeft, $"top-left: digit {digitTopLeft:F3}, fashion {fashionTopLeft:F3}");
        Assert.IsGreaterThan(digitBottomRight + 0.2, fashionBottomRight, $"bottom-right: fashion {fashionBottomRight:F3}, digit {digitBottomRight:F3}");
    }

    /// <summary>One item alone on the 36x36 canvas at (offset, offset), sampled at the 28x28 output pixel centres.</summary>
    private static float[] Sampled(ReadOnlySpan<byte> item, int offset)
    {
        var result = new float[784];
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++)
            {
                int r = (int)((y + 0.5) * 36 / 28) - offset, c = (int)((x + 0.5) * 36 / 28) - offset;
                result[y * 28 + x] = r is >= 0 and < 28 && c is >= 0 and < 28 ? item[r * 28 + c] / 255f : 0f;
            }
        return result;
    }

    /// <summary>Pearson correlation over the 14x14 quadrant starting at (start, start); 0 when either side is flat.</summary>
    private static double Correlation(float[] a, float[] b, int start)
    {
        double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
        for (int y = start; y < start + 14; y++)
            for (int x = start; x < start + 14; x++)
            {
                double u = a[y * 28 + x], v = b[y * 28 + x];
                sa += u; sb += v; saa += u * u; sbb += v * v; sab += u * v;
            }
        const int m = 196;
        double cov = sab - sa * sb / m, va = saa - sa * sa / m, vb = sbb - sb * sb / m;
        return va <= 1e-12 || vb <= 1e-12 ? 0 : cov / Math.Sqrt(va * vb);
    }
}
