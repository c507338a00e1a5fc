using MLNetSlim.Architecture;
using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Network.Decoders;
using MLNetSlim.Nn;
using MLNetSlim.Training;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Network;

[TestClass]
public class DenseDecoderTests
{
    // Small conv net of stages 2, 4, 8 (depth 1 each) on 1x8x8, widths {0.5, 1}, pyramid D = 4, one skip.
    // Encoder: stage0 conv 1->2 at 8x8, pool -> 4x4; stage1 conv 2->4 at 4x4, pool -> 2x2 (the encoder output).
    // Decoder: stage2 conv 4->8 at 2x2 (last stage, no pool), then the FPN-lite head: lateral_top 1x1 8->D at 2x2,
    // skip = stage0's output (2 channels at 4x4): lateral 1x1 2->D at 4x4; smooth 3x3 D->D at 4x4; predictor 1x1 D->K at 4x4.
    private static NetworkOptions Small(params TaskDefinition[] tasks) => new()
    {
        Tasks = tasks,
        Channels = 1,
        Height = 8,
        Width = 8,
        Widths = [0.5, 1.0],
        PyramidChannels = 4,
        PyramidSkips = 1,
        Backbone = new BackboneOptions { StageChannels = [2, 4, 8], StageDepths = [1, 1, 1] },
    };

    [TestMethod]
    public void FpnLite_MacsMatchHandCount()
    {
        using var net = new MultiTaskNetwork(Small(new TaskDefinition("seg", TaskKind.Segmentation, 3)));
        // Encoder full: 2*1*9*64 = 1152, 4*2*9*16 = 1152.
        // Decoder full: stage 8*4*9*4 = 1152; lateral_top 4*8*4 = 128; skip lateral 4*2*16 = 128;
        // smooth 4*4*9*16 = 2304; predictor 3*4*16 = 192.
        Assert.AreEqual(1152L + 1152 + 1152 + 128 + 128 + 2304 + 192, net.Macs(new WidthConfiguration(1.0, 1.0)));
        // Decoder at 0.5 on the full encoder: stage 4*4*9*4 = 576; D' = 2: lateral_top 2*4*4 = 32; skip 2*2*16 = 64;
        // smooth 2*2*9*16 = 576; predictor 3*2*16 = 96.
        Assert.AreEqual(2304L + 576 + 32 + 64 + 576 + 96, net.Macs(new WidthConfiguration(1.0, 0.5)));
        // Encoder at 0.5: stage0 1*1*9*64 = 576, stage1 2*1*9*16 = 288; decoder 1.0 reads 2 channels:
        // stage 8*2*9*4 = 576; lateral_top 128; the skip has 1 channel: 4*1*16 = 64; smooth 2304; predictor 192.
        Assert.AreEqual(576L + 288 + 576 + 128 + 64 + 2304 + 192, net.Macs(new WidthConfiguration(0.5, 1.0)));
    }

    [TestMethod]
    public void FpnLite_WithoutSkips_MatchesHandCount()
    {
        NetworkOptions o = Small(TaskDefinition.PerPixel("depth", TaskKind.Depth));
        o.PyramidSkips = 0;
        using var net = new MultiTaskNetwork(o);
        // Decoder: stage 1152; lateral_top 128; smooth 4*4*9*4 = 576 at 2x2; predictor 1*4*4 = 16.
        Assert.AreEqual(2304L + 1152 + 128 + 576 + 16, net.CostTable.FullMacs);
    }

    [TestMethod]
    public void EveryKind_OutputsAtInputResolution_WithPerTaskChannels_AtEveryConfiguration()
    {
        NetworkOptions o = Small(
            new TaskDefinition("seg", TaskKind.Segmentation, 5),
            TaskDefinition.PerPixel("depth", TaskKind.Depth),
            TaskDefinition.PerPixel("normals", TaskKind.Normals),
            TaskDefinition.PerPixel("edges", TaskKind.Edges),
            TaskDefinition.PerPixel("saliency", TaskKind.Saliency),
            new TaskDefinition("cls", TaskKind.Classification, 4));
        using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(o, 3);
        net.eval();
        using var noGrad = no_grad();
        using Tensor x = rand(2, 1, 8, 8);
        long[][] expected = [[2, 5, 8, 8], [2, 1, 8, 8], [2, 3, 8, 8], [2, 1, 8, 8], [2, 1, 8, 8], [2, 4]];
        foreach (double e in new[] { 0.5, 1.0 })
            foreach (double d in new[] { 0.5, 1.0 })
            {
                var c = new WidthConfiguration(e, Enumerable.Repeat(d, 6).ToArray());
                using MultiTaskOutput output = net.forward(x, c);
                for (int t = 0; t < 6; t++) CollectionAssert.AreEqual(expected[t], output.TaskOutputs[t].shape, $"{c} task {t}");
            }
    }

    [TestMethod]
    public void FpnLite_BatchNormHasOneContextPerEncoderOptionAndDecoderWidth_AndWidthChangesTheOutput()
    {
        using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(Small(new TaskDefinition("seg", TaskKind.Segmentation, 3)), 5);
        FpnLiteHead head = (FpnLiteHead)net.Decoders[0].Head;
        SlimmableBatchNorm2d[] bns = head.modules().OfType<SlimmableBatchNorm2d>().ToArray();
        Assert.IsTrue(bns.Length > 0);
        Assert.IsTrue(bns.All(bn => bn.Contexts == 2 * 2)); // (encoder option, decoder width)
        CollectionAssert.AreEqual(new[] { 0 }, head.SkipStages.ToArray());
        net.eval();
        using var noGrad = no_grad();
        using Tensor x = rand(1, 1, 8, 8);
        using MultiTaskOutput full = net.forward(x, new WidthConfiguration(1.0, 1.0));
        using MultiTaskOutput half = net.forward(x, new WidthConfiguration(1.0, 0.5));
        Assert.IsFalse(full.TaskOutputs[0].allclose(half.TaskOutputs[0]));
    }

    [TestMethod]
    public void TaskDefinition_PerPixelKinds_HaveFixedChannels_AndDirections()
    {
        Assert.AreEqual(1, TaskDefinition.PerPixel("d", TaskKind.Depth).OutputChannels);
        Assert.AreEqual(3, TaskDefinition.PerPixel("n", TaskKind.Normals).OutputChannels);
        Assert.IsFalse(TaskDefinition.PerPixel("d", TaskKind.Depth).HigherIsBetter);
        Assert.IsFalse(TaskDefinition.PerPixel("n", TaskKind.Normals).HigherIsBetter);
        Assert.IsTrue(TaskDefinition.PerPixel("e", TaskKind.Edges).HigherIsBetter);
        Assert.IsTrue(new TaskDefinition("s", TaskKind.Segmentation, 21).HigherIsBetter);
        var ex = Assert.ThrowsExactly<ArgumentException>(() => new TaskDefinition("n", TaskKind.Normals, 2));
        StringAssert.Contains(ex.Message, "3 output channel");
        Assert.ThrowsExactly<ArgumentException>(() => TaskDefinition.PerPixel("s", TaskKind.Segmentation));
    }
}
