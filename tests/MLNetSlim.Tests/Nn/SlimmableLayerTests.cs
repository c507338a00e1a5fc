using MLNetSlim.Nn;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Nn;

[TestClass]
public class SlimmableLayerTests
{
    [TestMethod]
    public void Conv_UsesLeadingFiltersAndInputChannels()
    {
        manual_seed(3);
        using var conv = new SlimmableConv2d(8, 6, 3, padding: 1);
        using Tensor x = randn(2, 8, 5, 5);
        using Tensor full = conv.forward(x, 6);
        using Tensor slimInput = x.narrow(1, 0, 4);
        using Tensor slim = conv.forward(slimInput, 3);
        // The slim output equals a plain convolution with the weight's leading 3 filters over the leading 4 channels.
        Tensor weight = conv.parameters().First();
        using Tensor w = weight.narrow(0, 0, 3).narrow(1, 0, 4);
        using Tensor expected = nn.functional.conv2d(slimInput, w, padding: new long[] { 1, 1 });
        CollectionAssert.AreEqual(new long[] { 2, 3, 5, 5 }, slim.shape);
        Assert.IsTrue(slim.allclose(expected, 1e-6, 1e-6));
        // and, with all input channels, the full output's first 3 channels.
        using Tensor partial = conv.forward(x, 3);
        using Tensor lead = full.narrow(1, 0, 3);
        Assert.IsTrue(partial.allclose(lead, 1e-6, 1e-6));
        Assert.ThrowsExactly<ArgumentException>(() => conv.forward(x, 7));
    }

    [TestMethod]
    public void Linear_ReadsLeadingFeatures()
    {
        manual_seed(4);
        using var fc = new SlimmableLinear(10, 3);
        using Tensor x = randn(5, 4);
        using Tensor y = fc.forward(x);
        var ps = fc.parameters().ToArray();
        using Tensor w = ps[0].narrow(1, 0, 4);
        using Tensor expected = nn.functional.linear(x, w, ps[1]);
        Assert.IsTrue(y.allclose(expected, 1e-6, 1e-6));
        Assert.AreEqual(3L * 4, fc.Macs(4));
    }

    [TestMethod]
    public void BatchNorm_CalibrationGivesTheExactMeanOfBatchStatistics_PerContext()
    {
        using var bn = new SlimmableBatchNorm2d(4, contexts: 2);
        bn.train();
        bn.CollectingPostStatistics = true;
        bn.ResetPostStatistics();
        using Tensor a = full(3, 2, 2, 2, 1.0f) + arange(2).reshape(1, 2, 1, 1); // channel means 1 and 2
        using Tensor b = full(3, 2, 2, 2, 3.0f) + arange(2).reshape(1, 2, 1, 1); // channel means 3 and 4
        using (no_grad())
        {
            bn.forward(a, 1).Dispose();
            bn.forward(b, 1).Dispose();
        }
        bn.CollectingPostStatistics = false;
        Tensor runningMean = bn.buffers().First();
        float[] m = runningMean.data<float>().ToArray(); // (contexts=2, C=4), row-major
        CollectionAssert.AreEqual(new float[] { 0, 0, 0, 0 }, m[..4], "context 0 untouched");
        Assert.AreEqual(2.0f, m[4], 1e-6); // (1 + 3) / 2
        Assert.AreEqual(3.0f, m[5], 1e-6); // (2 + 4) / 2
        Assert.AreEqual(0.0f, m[6], 0);    // channels beyond the active two keep their value
        // Eval mode normalises with context 1's statistics: a constant map at the running mean becomes ~0 (+bias 0).
        bn.eval();
        using Tensor probe = full(1, 2, 1, 1, 2.0f);
        using Tensor normalised = bn.forward(probe, 1);
        Assert.AreEqual(0.0f, normalised[0, 0, 0, 0].item<float>(), 1e-3);
    }

    [TestMethod]
    public void BatchNorm_RejectsUnknownContext()
    {
        using var bn = new SlimmableBatchNorm2d(4, contexts: 2);
        using Tensor x = randn(2, 4, 2, 2);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => bn.forward(x, 2)).Message, "context 2");
    }
}
