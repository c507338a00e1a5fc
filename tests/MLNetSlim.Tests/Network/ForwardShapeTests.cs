using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Training;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Network;

[TestClass]
public class ForwardShapeTests
{
    private static NetworkOptions Options(BackboneOptions backbone, bool perStage = false) => new()
    {
        Tasks =
        [
            new TaskDefinition("digit", TaskKind.Classification, 10),
            new TaskDefinition("coarse", TaskKind.Classification, 4),
            new TaskDefinition("mask", TaskKind.Segmentation, 3),
        ],
        Channels = 1,
        Height = 28,
        Width = 28,
        Backbone = backbone,
        PerStageEncoderWidths = perStage,
    };

    [TestMethod]
    [DataRow(false, false)]
    [DataRow(true, false)]
    [DataRow(false, true)]
    public void EveryConfiguration_GivesOutputsOfTheRightShape(bool resnet, bool perStage)
    {
        NetworkOptions options = Options(resnet ? BackboneOptions.ResNet() : BackboneOptions.SmallConvNet(), perStage);
        using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(options, 1);
        net.eval();
        using var noGrad = no_grad();
        using Tensor x = rand(2, 1, 28, 28);
        CostTable costs = net.CostTable;
        int configurations = 0;
        for (int e = 0; e < costs.EncoderOptionCount; e++)
            foreach (int[] d in perStage ? Enumerable.Range(0, 4).Select(w => new[] { w, 3 - w, w }) : AllDecoderWidths(costs.DecoderWidths.Count, 3))
            {
                WidthConfiguration c = costs.Configuration(e, d);
                using MultiTaskOutput output = net.forward(x, c);
                CollectionAssert.AreEqual(new long[] { 2, 10 }, output.TaskOutputs[0].shape, c.ToString());
                CollectionAssert.AreEqual(new long[] { 2, 4 }, output.TaskOutputs[1].shape, c.ToString());
                CollectionAssert.AreEqual(new long[] { 2, 3, 28, 28 }, output.TaskOutputs[2].shape, c.ToString());
                // The decoders read the encoder's active channels: round(w * C_last) of the last encoder stage.
                long expected = WidthSet.ActiveChannels(net.Options.Backbone.StageChannels[^2], c.EncoderOutputWidth);
                Assert.AreEqual(expected, output.EncoderFeatures[^1].shape[1], c.ToString());
                Assert.IsFalse(output.TaskOutputs.Any(t => t.isnan().any().item<bool>()));
                configurations++;
            }
        // Uniform encoder: 4 options x all 4^3 decoder combinations. Per stage (2 encoder stages): 4^2 options.
        Assert.AreEqual(perStage ? 16 : 4, costs.EncoderOptionCount);
        Assert.AreEqual(perStage ? 16 * 4 : 4 * 64, configurations);
    }

    [TestMethod]
    public void Forward_RejectsWrongChannelCount()
    {
        using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(Options(BackboneOptions.SmallConvNet()), 1);
        using Tensor x = rand(2, 3, 28, 28);
        var e = Assert.ThrowsExactly<ArgumentException>(() => net.forward(x, net.FullConfiguration));
        StringAssert.Contains(e.Message, "(N, 1, H, W)");
    }

    private static IEnumerable<int[]> AllDecoderWidths(int widths, int tasks)
    {
        int total = (int)Math.Pow(widths, tasks);
        for (int i = 0; i < total; i++)
        {
            var d = new int[tasks];
            for (int t = 0, r = i; t < tasks; t++, r /= widths) d[t] = r % widths;
            yield return d;
        }
    }
}
