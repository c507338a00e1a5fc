using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Evaluation;
using MLNetSlim.Model;
using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Nn;
using MLNetSlim.Training;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Network;

/// <summary>A network whose decoders run on a finer width set than the encoder (issue 12): cost, batch-norm contexts,
/// sandwich sampling, post-statistics, calibration and save/load.</summary>
[TestClass]
public class SeparateDecoderWidthsNetworkTests
{
    private static readonly TaskDefinition[] Tasks = TinyNetwork.Tasks(2);

    // Decoders from 0.125 in steps of 1/8 (8 widths), so the smallest decoder width is not an encoder width.
    private static readonly double[] Fine = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0];

    private static NetworkOptions Options(double[]? decoderWidths) => new()
    {
        Tasks = Tasks,
        Channels = 1,
        Height = 8,
        Width = 8,
        Widths = [0.5, 1.0],
        DecoderWidths = decoderWidths,
        Backbone = new BackboneOptions { StageChannels = [4, 8], StageDepths = [1, 1] },
    };

    private static MultiTaskDataset Data(int n) => TinyNetwork.Data(Tasks, n);

    [TestMethod]
    public void CostTable_MatchesHandCount_AtAFineDecoderWidth()
    {
        using var net = new MultiTaskNetwork(Options(Fine));
        Assert.AreEqual(new WidthSet(0.5, 1.0), net.EncoderWidths);
        Assert.AreEqual(new WidthSet(Fine), net.DecoderWidths);
        CostTable c = net.CostTable;
        Assert.AreEqual(2, c.EncoderOptionCount);
        Assert.AreEqual(8, c.DecoderWidths.Count);
        // enc 0.5: conv 1->2 at 8x8: 2*1*9*64 = 1152. Decoder a at 0.375: round(0.375*8) = 3 channels reading 2:
        // 3*2*9*16 = 864, head 3*3 = 9. Decoder b at 0.125: 1 channel: 1*2*9*16 = 288, head 1*2 = 2.
        Assert.AreEqual(1152L + 864 + 9 + 288 + 2, net.Macs(WidthConfiguration.Parse("enc=0.5 dec=0.375,0.125")));
        Assert.AreEqual("enc=0.5 dec=0.125,0.125", c.Smallest.ToString());
        Assert.AreEqual(c.Smallest.Widths, net.SmallestConfiguration);
        var e = Assert.ThrowsExactly<ArgumentException>(() => net.Macs(WidthConfiguration.Parse("enc=0.375 dec=1,1")));
        StringAssert.Contains(e.Message, "not in the encoder width set {0.5, 1}");
    }

    [TestMethod]
    public void BatchNorm_HasOneContextPerEncoderOption_InTheEncoder_AndPerEncoderOptionAndDecoderWidth_InTheDecoders()
    {
        using var net = new MultiTaskNetwork(Options(Fine));
        foreach ((string name, Tensor buffer) in net.named_buffers())
        {
            if (!name.EndsWith("running_mean", StringComparison.Ordinal)) continue;
            long expected = name.StartsWith("encoder", StringComparison.Ordinal) ? 2 : 2 * 8;
            Assert.AreEqual(expected, buffer.shape[0], name);
        }
        Assert.IsTrue(net.named_buffers().Any(b => b.name.StartsWith("decoder", StringComparison.Ordinal) && b.name.EndsWith("running_mean", StringComparison.Ordinal)));
    }

    [TestMethod]
    public void SandwichSampler_DrawsDecoderWidthsFromTheDecoderSet_AndTheSmallestUsesItsSmallestWidth()
    {
        using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(Options(Fine), seed: 3);
        var sampler = new SandwichSampler(net, 2, seed: 4);
        var decoderWidths = new HashSet<double>();
        var encoderWidths = new HashSet<double>();
        for (int i = 0; i < 300; i++)
        {
            IReadOnlyList<WidthConfiguration> step = sampler.Next();
            Assert.AreEqual(WidthConfiguration.Uniform(1.0, 2), step[0], "largest first");
            Assert.AreEqual(WidthConfiguration.Parse("enc=0.5 dec=0.125,0.125"), step[1], "smallest second");
            foreach (WidthConfiguration c in step.Skip(2))
            {
                decoderWidths.UnionWith(c.DecoderWidths);
                encoderWidths.Add(c.EncoderOutputWidth);
            }
        }
        CollectionAssert.AreEquivalent(Fine, decoderWidths.ToArray());
        CollectionAssert.AreEquivalent(new[] { 0.5, 1.0 }, encoderWidths.ToArray());
    }

    [TestMethod]
    public void PostStatistics_FillEveryFineDecoderContext()
    {
        MultiTaskDataset data = Data(40);
        var c = WidthConfiguration.Parse("enc=0.5 dec=0.375,0.875");
        using MultiTaskNetwork all = SupernetTrainer.CreateNetwork(Options(Fine), seed: 5), only = SupernetTrainer.CreateNetwork(Options(Fine), seed: 5);
        BatchNormPostStatistics.Compute(all, data, 40, 16, CPU);
        BatchNormPostStatistics.Compute(only, data, 40, 16, CPU, [c]);
        float[] expected = TinyNetwork.Outputs(all, data, c), actual = TinyNetwork.Outputs(only, data, c);
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], actual[i], 1e-4f, $"output {i}");
    }

    [TestMethod]
    public void Calibration_IsPerFactor_OverTheDecoderSet_AndEqualsDirectEvaluation()
    {
        MultiTaskDataset data = Data(48);
        using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(Options(Fine), seed: 6);
        BatchNormPostStatistics.Compute(net, data, 48, 16, CPU);
        double[][][] table = NetworkEvaluator.AccuracyTable(net, data, 16);
        Assert.AreEqual(2, table.Length);
        Assert.AreEqual(2, table[0].Length);
        Assert.AreEqual(8, table[0][0].Length);
        foreach ((int e, int d) in new[] { (0, 0), (0, 2), (1, 5), (1, 7) })
        {
            double[] direct = NetworkEvaluator.Accuracy(net, data, net.CostTable.Configuration(e, [d, d]), 16);
            Assert.AreEqual(direct[0], table[0][e][d], 1e-12, $"task a at ({e}, {d})");
            Assert.AreEqual(direct[1], table[1][e][d], 1e-12, $"task b at ({e}, {d})");
        }
        CalibrationTable cal = ModelTrainer.Calibrate(net, data);
        Assert.AreEqual(new WidthSet(Fine), cal.DecoderWidths);
        cal.EnsureMatches(net.CostTable);
    }

    [TestMethod]
    public void Model_SavesAsFormat3_AndLoadsWithTheDecoderSet()
    {
        MultiTaskDataset data = Data(48);
        using ControllableMultiTaskModel model = ModelTrainer.Train(data, data, new ModelOptions
        {
            Widths = [0.5, 1.0],
            DecoderWidths = Fine,
            Backbone = new BackboneOptions { StageChannels = [4, 8], StageDepths = [1, 1] },
            Training = new TrainingOptions { Epochs = 1, BatchSize = 16, Seed = 2, PostStatisticsImages = 32 },
        });
        Assert.AreEqual(new WidthSet(Fine), model.Costs.DecoderWidths);
        using var ms = new MemoryStream();
        model.Save(ms);
        Assert.AreEqual(3, BitConverter.ToInt32(ms.ToArray(), 8), "format version after the 8-byte magic");
        ms.Position = 0;
        using ControllableMultiTaskModel loaded = ControllableMultiTaskModel.Load(ms);
        Assert.AreEqual(new WidthSet(Fine), loaded.Costs.DecoderWidths);
        Assert.AreEqual(new WidthSet(0.5, 1.0), loaded.Costs.EncoderWidths);
        var c = WidthConfiguration.Parse("enc=0.5 dec=0.625,0.125");
        float[] images = data.Images.AsSpan(0, 4 * 64).ToArray();
        float[][] a = model.Predict(images, 4, c), b = loaded.Predict(images, 4, c);
        for (int t = 0; t < a.Length; t++) CollectionAssert.AreEqual(a[t], b[t], $"task {t}");
        Assert.AreEqual(model.SelectConfiguration(Budget.FractionOfFull(0.6), [0.7, 0.3]), loaded.SelectConfiguration(Budget.FractionOfFull(0.6), [0.7, 0.3]));
    }

    [TestMethod]
    public void NetworkOptions_WithoutDecoderWidths_UseTheEncoderSet_AsOldModelFilesDo()
    {
        string json = System.Text.Json.JsonSerializer.Serialize(Options(null));
        NetworkOptions back = System.Text.Json.JsonSerializer.Deserialize<NetworkOptions>(json)!;
        Assert.IsNull(back.DecoderWidths);
        using var net = new MultiTaskNetwork(back);
        Assert.AreEqual(net.EncoderWidths, net.DecoderWidths);
        Assert.AreEqual(new WidthSet(0.5, 1.0), net.CostTable.DecoderWidths);
    }

    [TestMethod]
    public void EstimatorOptions_PassTheDecoderWidthsToTraining()
    {
        var o = new MLNetSlim.MLNet.ControllableMultiTaskEstimator.Options { Tasks = { new() { Name = "a" } }, DecoderWidths = Fine };
        o.Validate();
        ModelOptions m = MLNetSlim.MLNet.BuiltInTrainer.ToModelOptions(o);
        CollectionAssert.AreEqual(Fine, m.DecoderWidths);
        CollectionAssert.AreEqual(Fine, m.NetworkFor(Tasks, 1, 8, 8).DecoderWidths);
        Assert.IsNull(MLNetSlim.MLNet.BuiltInTrainer.ToModelOptions(new MLNetSlim.MLNet.ControllableMultiTaskEstimator.Options { Tasks = { new() { Name = "a" } } }).DecoderWidths);
    }
}
