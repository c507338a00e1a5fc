using MLNetSlim.Architecture;
using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Training;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Network;

/// <summary><c>MultiTaskNetwork.ForwardEveryDecoderWidth</c> runs each decoder's first convolution once at its widest and
/// slices its channels per width: its outputs (eval mode) and the batch-norm post-statistics it collects (train mode)
/// must equal running every configuration on its own.</summary>
[TestClass]
public class ForwardEveryDecoderWidthTests
{
    private static readonly TaskDefinition[] Tasks = TinyNetwork.Tasks(4);

    // Decoder stage of two convolutions, so the per-width part runs a second convolution on the sliced first one.
    private static MultiTaskNetwork Create(int seed) =>
        TinyNetwork.Create(Tasks, seed, stageDepths: [1, 1, 2], decoderWidths: [0.25, 0.375, 0.5, 0.75, 1.0]);

    [TestMethod]
    public void Outputs_EqualTheForwardPassAtEachWidth()
    {
        using MultiTaskNetwork net = Create(5);
        MultiTaskDataset data = TinyNetwork.Data(Tasks, 64);
        BatchNormPostStatistics.Compute(net, data, 64, 32, CPU);
        net.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor x = tensor(data.Images, [data.Count, TinyNetwork.C, TinyNetwork.H, TinyNetwork.W]);
        int visits = 0;
        for (int e = 0; e < net.EncoderOptions.Count; e++)
        {
            int option = e;
            net.ForwardEveryDecoderWidth(x, e, (t, d, output) =>
            {
                using MultiTaskOutput direct = net.forward(x, net.CostTable.Configuration(option, [d, d]));
                double diff = (output - direct.TaskOutputs[t]).abs().max().item<float>();
                Assert.IsTrue(diff < 1e-5, $"task {t}, encoder option {option}, decoder width {d}: max |difference| {diff}");
                Assert.IsTrue(direct.TaskOutputs[t].abs().max().item<float>() > 1e-3, "outputs should not be all zero");
                visits++;
            });
        }
        Assert.AreEqual(net.EncoderOptions.Count * net.DecoderWidths.Count * Tasks.Length, visits);
    }

    [TestMethod]
    public void PostStatistics_EqualThoseOfEveryConfigurationOnItsOwn()
    {
        using MultiTaskNetwork shared = Create(7), separate = Create(7);
        MultiTaskDataset data = TinyNetwork.Data(Tasks, 96);
        BatchNormPostStatistics.Compute(shared, data, 96, 32, CPU); // every encoder option x decoder width, shared first conv
        var every = new List<WidthConfiguration>();
        for (int e = 0; e < separate.EncoderOptions.Count; e++)
            for (int d = 0; d < separate.DecoderWidths.Count; d++) every.Add(separate.CostTable.Configuration(e, [d, d]));
        BatchNormPostStatistics.Compute(separate, data, 96, 32, CPU, every);
        foreach (WidthConfiguration c in every)
        {
            float[] a = TinyNetwork.Outputs(shared, data, c), b = TinyNetwork.Outputs(separate, data, c);
            Assert.AreEqual(a.Length, b.Length);
            double diff = a.Zip(b, (u, v) => Math.Abs(u - v)).Max();
            Assert.IsTrue(diff < 1e-4, $"{c}: max |difference| {diff}");
        }
    }
}
