using static TorchSharp.torch;
namespace MLNetSlim.Tests;
[TestClass]
public class Smoke
{
    [TestMethod]
    public void Conv()
    {
        using var x = randn(2, 3, 8, 8);
        using var w = randn(4, 3, 3, 3);
        using var y = nn.functional.conv2d(x, w, padding: new long[] { 1, 1 });
        CollectionAssert.AreEqual(new long[] { 2, 4, 8, 8 }, y.shape);
    }
}
