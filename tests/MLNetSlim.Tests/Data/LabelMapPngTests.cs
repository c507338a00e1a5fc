using MLNetSlim.Data;

namespace MLNetSlim.Tests.Data;

[TestClass]
public class LabelMapPngTests
{
    [TestMethod]
    [DataRow(0)]
    [DataRow(1)]
    public void SixteenBitDepth_KeepsItsPrecision(int filter)
    {
        string path = Path.Combine(TestData.TempRoot, $"h11-depth16-{Guid.NewGuid():N}.png");
        try
        {
            float[] depth = [51_234, 0, 65_535, 1, 256, 51_233, 12_345, 255];
            LabelMapPng.Write(path, depth, 2, 4, 16, filter);
            LabelMapPng.LabelMap map = LabelMapPng.Read(path);
            Assert.AreEqual(16, map.BitDepth);
            Assert.AreEqual((2, 4), (map.Height, map.Width));
            CollectionAssert.AreEqual(depth, map.Values);
            Assert.AreEqual(51_234f, map.Values[0]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void EightBitClassIndices_AreExact()
    {
        string path = Path.Combine(TestData.TempRoot, $"h11-seg8-{Guid.NewGuid():N}.png");
        try
        {
            float[] classes = Enumerable.Range(0, 21).Select(i => (float)i).Append(255f).Append(0f).Append(20f).ToArray();
            LabelMapPng.Write(path, classes, 4, 6, 8, filter: 1);
            CollectionAssert.AreEqual(classes, LabelMapPng.Read(path).Values);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void NotAGrayscalePng_AndWrongSize_GetErrorsThatSayWhy()
    {
        string path = Path.Combine(TestData.TempRoot, $"h11-bad-{Guid.NewGuid():N}.png");
        try
        {
            File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
            var e = Assert.ThrowsExactly<InvalidDataException>(() => LabelMapPng.Read(path));
            StringAssert.Contains(e.Message, path);
            StringAssert.Contains(e.Message, "not a PNG");
        }
        finally
        {
            File.Delete(path);
        }
        var size = Assert.ThrowsExactly<InvalidOperationException>(() => LabelMapPng.CheckSize("DepthMap", 3, 48, 64, 64, 64));
        StringAssert.Contains(size.Message, "'DepthMap'");
        StringAssert.Contains(size.Message, "48 x 64");
        StringAssert.Contains(size.Message, "64 x 64");
    }
}
