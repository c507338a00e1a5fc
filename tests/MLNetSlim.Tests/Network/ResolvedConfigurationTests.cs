using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Model;
using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Training;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Network;

/// <summary>Issue 9, item 2: the search's answer (indices + exact MACs) is what the forward pass takes.</summary>
[TestClass]
public class ResolvedConfigurationTests
{
    private static MultiTaskNetwork Tiny() => SupernetTrainer.CreateNetwork(new NetworkOptions
    {
        Tasks = [new TaskDefinition("a", TaskKind.Classification, 4), new TaskDefinition("b", TaskKind.Classification, 3)],
        Channels = 1,
        Height = 8,
        Width = 8,
        Backbone = new BackboneOptions { StageChannels = [8, 16, 16], StageDepths = [1, 1, 1] },
    }, 2);

    [TestMethod]
    public void ResolveAndAt_AgreeWithTheMultipliers_AndTheMacs()
    {
        using MultiTaskNetwork net = Tiny();
        CostTable costs = net.CostTable;
        for (int e = 0; e < costs.EncoderOptionCount; e++)
            for (int d0 = 0; d0 < costs.DecoderWidths.Count; d0++)
                for (int d1 = 0; d1 < costs.DecoderWidths.Count; d1++)
                {
                    ResolvedConfiguration r = costs.At(e, [d0, d1]);
                    Assert.AreEqual(r, costs.Resolve(r.Widths));
                    Assert.AreEqual(costs.EncoderMacs(e) + costs.DecoderMacs(0, e, d0) + costs.DecoderMacs(1, e, d1), r.Macs);
                    Assert.AreEqual(costs.Macs(r.Widths), r.Macs);
                    Assert.AreEqual(r.Widths.ToString(), r.ToString());
                }
        Assert.AreEqual(costs.At(costs.EncoderOptionCount - 1, [3, 3]), costs.Full);
        Assert.AreEqual(costs.At(0, [0, 0]), costs.Smallest);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => costs.At(costs.EncoderOptionCount, [0, 0]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => costs.At(0, [0, 4]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => costs.At(0, [0]));
        Assert.ThrowsExactly<ArgumentException>(() => costs.Resolve(new WidthConfiguration(0.3, 1.0, 1.0)));
    }

    [TestMethod]
    public void ForwardAtIndices_EqualsForwardAtMultipliers_BitForBit_AndTheSearchAnswerRunsAsIs()
    {
        using MultiTaskNetwork net = Tiny();
        net.eval();
        using var noGrad = no_grad();
        using Tensor x = rand(3, 1, 8, 8);
        CostTable costs = net.CostTable;
        var calibration = CalibrationTable.Calibrate(costs, [true, true], (e, d) => [0.5 + 0.1 * e + 0.05 * d, 0.5 + 0.05 * e + 0.1 * d]);
        SearchResult answer = new ConfigurationSearch(costs, calibration).Search(Budget.FractionOfFull(0.5), [1.0, 2.0]);
        Assert.AreEqual(costs.Macs(answer.Configuration), answer.Selected.Macs);
        Assert.AreEqual(answer.Macs, answer.Selected.Macs);
        CollectionAssert.AreEqual(answer.DecoderWidthIndices.ToArray(), answer.Selected.DecoderWidthIndices.ToArray());

        using MultiTaskOutput byIndex = net.forward(x, answer.Selected);
        using MultiTaskOutput byWidth = net.forward(x, answer.Configuration);
        for (int t = 0; t < 2; t++)
            CollectionAssert.AreEqual(byWidth.TaskOutputs[t].data<float>().ToArray(), byIndex.TaskOutputs[t].data<float>().ToArray());

        // A configuration of another table that does not fit this network is refused by a range check.
        using MultiTaskNetwork other = SupernetTrainer.CreateNetwork(new NetworkOptions
        {
            Tasks = [new TaskDefinition("a", TaskKind.Classification, 4), new TaskDefinition("b", TaskKind.Classification, 3), new TaskDefinition("c", TaskKind.Classification, 2)],
            Channels = 1,
            Height = 8,
            Width = 8,
            Backbone = new BackboneOptions { StageChannels = [8, 16, 16], StageDepths = [1, 1, 1] },
        }, 2);
        var e = Assert.ThrowsExactly<ArgumentException>(() => net.forward(x, other.CostTable.Full));
        StringAssert.Contains(e.Message, "does not fit this network");
    }
}
