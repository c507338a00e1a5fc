using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Network;

[TestClass]
public class MacCountTests
{
    // Small conv net: stages of 4 and 8 channels, depth 1 each, on a 1x8x8 input, one 3-class task, widths {0.5, 1}.
    // The encoder is stage 0 (3x3 conv 1->4, pad 1, at 8x8, then 2x2 max pool to 4x4); the decoder owns stage 1
    // (3x3 conv 4->8 at 4x4, no pool) and the head (global average pool + linear 8->3).
    private static MultiTaskNetwork SmallNet() => new(new NetworkOptions
    {
        Tasks = [new TaskDefinition("t", TaskKind.Classification, 3)],
        Channels = 1,
        Height = 8,
        Width = 8,
        Widths = [0.5, 1.0],
        Backbone = new BackboneOptions { StageChannels = [4, 8], StageDepths = [1, 1] },
    });

    [TestMethod]
    public void SmallConvNet_MatchesHandCount()
    {
        using MultiTaskNetwork net = SmallNet();
        // full: enc 4*1*9*64 = 2304; dec 8*4*9*16 = 4608; head 8*3 = 24.
        Assert.AreEqual(2304L + 4608 + 24, net.Macs(new WidthConfiguration(1.0, 1.0)));
        // enc 0.5: 2*1*9*64 = 1152; dec 1.0 reads 2 channels: 8*2*9*16 = 2304; head 24.
        Assert.AreEqual(1152L + 2304 + 24, net.Macs(new WidthConfiguration(0.5, 1.0)));
        // enc 1.0: 2304; dec 0.5: 4*4*9*16 = 2304; head 4*3 = 12.
        Assert.AreEqual(2304L + 2304 + 12, net.Macs(new WidthConfiguration(1.0, 0.5)));
        // smallest: 1152 + 4*2*9*16 (1152) + 12.
        Assert.AreEqual(1152L + 1152 + 12, net.CostTable.SmallestMacs);
    }

    [TestMethod]
    public void ResNet_MatchesHandCount()
    {
        // Stem 1->2 (encoder), then one residual stage of one basic block 2->4, stride 1 (decoder), on 1x4x4, 2 classes.
        using var net = new MultiTaskNetwork(new NetworkOptions
        {
            Tasks = [new TaskDefinition("t", TaskKind.Classification, 2)],
            Channels = 1,
            Height = 4,
            Width = 4,
            Widths = [0.5, 1.0],
            Backbone = new BackboneOptions { Kind = BackboneKind.ResNet, StemChannels = 2, StageChannels = [4], StageDepths = [1] },
        });
        // stem 2*1*9*16 = 288; conv1 4*2*9*16 = 1152; conv2 4*4*9*16 = 2304; 1x1 projection 4*2*16 = 128; head 4*2 = 8.
        Assert.AreEqual(288L + 1152 + 2304 + 128 + 8, net.CostTable.FullMacs);
    }

    [TestMethod]
    public void CostTable_IsSeparable_AndAgreesWithMacs()
    {
        using MultiTaskNetwork net = SmallNet();
        CostTable c = net.CostTable;
        Assert.AreEqual(2, c.EncoderOptionCount);
        for (int e = 0; e < 2; e++)
            for (int d = 0; d < 2; d++)
                Assert.AreEqual(c.EncoderMacs(e) + c.DecoderMacs(0, e, d), c.Macs(c.Configuration(e, [d])));
    }

    [TestMethod]
    public void Macs_RejectsWidthOutsideTheSet()
    {
        using MultiTaskNetwork net = SmallNet();
        var e = Assert.ThrowsExactly<ArgumentException>(() => net.Macs(new WidthConfiguration(0.75, 1.0)));
        StringAssert.Contains(e.Message, "0.75");
        StringAssert.Contains(e.Message, "{0.5, 1}");
    }
}
