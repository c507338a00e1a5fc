using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Training;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Training;

[TestClass]
public class BatchNormPostStatisticsTests
{
    private static readonly TaskDefinition[] Tasks = [new("a", TaskKind.Classification, 3), new("b", TaskKind.Classification, 2)];

    private static MultiTaskNetwork Network() => SupernetTrainer.CreateNetwork(new NetworkOptions
    {
        Tasks = Tasks,
        Channels = 1,
        Height = 8,
        Width = 8,
        Backbone = new BackboneOptions { StageChannels = [4, 8, 8], StageDepths = [1, 1, 1] },
    }, seed: 5);

    private static MultiTaskDataset Data(int n)
    {
        var rng = new Random(3);
        float[] images = Enumerable.Range(0, n * 64).Select(_ => (float)rng.NextDouble()).ToArray();
        return new MultiTaskDataset(images, 1, 8, 8, Tasks, [Enumerable.Range(0, n).Select(i => i % 3).ToArray(), Enumerable.Range(0, n).Select(i => i % 2).ToArray()]);
    }

    private static float[] Outputs(MultiTaskNetwork net, MultiTaskDataset data, WidthConfiguration c)
    {
        net.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        Tensor x = tensor(data.Images, [data.Count, 1, 8, 8]);
        using MultiTaskOutput o = net.forward(x, c);
        return o.TaskOutputs.SelectMany(t => t.data<float>().ToArray()).ToArray();
    }

    [TestMethod]
    public void OneConfigurationGivesThatConfigurationTheSameStatisticsAsAll()
    {
        MultiTaskDataset data = Data(40);
        var c = WidthConfiguration.Parse("enc=0.5 dec=1,0.25");
        var other = WidthConfiguration.Parse("enc=0.75 dec=0.75,0.75");
        using MultiTaskNetwork all = Network(), only = Network(), untouched = Network();
        BatchNormPostStatistics.Compute(all, data, 40, 16, CPU);
        BatchNormPostStatistics.Compute(only, data, 40, 16, CPU, [c]);

        float[] expected = Outputs(all, data, c), actual = Outputs(only, data, c);
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], actual[i], 1e-4f, $"output {i}");
        // Contexts the configuration does not use keep their old statistics.
        CollectionAssert.AreEqual(Outputs(untouched, data, other), Outputs(only, data, other));
        CollectionAssert.AreNotEqual(Outputs(untouched, data, c), Outputs(only, data, c));
    }

    [TestMethod]
    public void RejectsAConfigurationThatDoesNotFit()
    {
        using MultiTaskNetwork net = Network();
        Assert.ThrowsExactly<ArgumentException>(() =>
            BatchNormPostStatistics.Compute(net, Data(8), 8, 4, CPU, [WidthConfiguration.Parse("enc=0.3 dec=1,1")]));
    }

    [TestMethod]
    public void StaticTrainingRecomputesPostStatisticsOnlyForItsConfiguration()
    {
        MultiTaskDataset data = Data(32);
        var c = WidthConfiguration.Parse("enc=0.25 dec=0.5,1");
        using MultiTaskNetwork trained = Network(), fresh = Network();
        var options = new TrainingOptions { Epochs = 1, BatchSize = 16, FixedConfiguration = c, PostStatisticsImages = 32, Seed = 1 };
        SupernetTrainer.Train(trained, data, options);
        // Encoder option 1.0 was neither trained nor given post-statistics: its batch-norm buffers are still the initial ones.
        var freshBuffers = fresh.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        foreach ((string name, Tensor buffer) in trained.named_buffers())
            if (name.StartsWith("encoder", StringComparison.Ordinal))
            {
                int e = 3; // encoder option of width 1.0
                Assert.IsTrue(buffer[e].eq(freshBuffers[name][e]).all().item<bool>(), $"{name}[{e}] changed");
                Assert.IsFalse(buffer[0].eq(freshBuffers[name][0]).all().item<bool>(), $"{name}[0] (the trained option) did not change");
            }
    }
}
