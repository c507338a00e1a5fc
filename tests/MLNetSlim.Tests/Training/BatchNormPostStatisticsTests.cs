using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Tests.Network;
using MLNetSlim.Training;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Training;

[TestClass]
public class BatchNormPostStatisticsTests
{
    private static readonly TaskDefinition[] Tasks = TinyNetwork.Tasks(2);

    private static MultiTaskNetwork Network() => TinyNetwork.Create(Tasks, seed: 5);

    private static MultiTaskDataset Data(int n) => TinyNetwork.Data(Tasks, n);

    [TestMethod]
    public void OneConfigurationGivesThatConfigurationTheSameStatisticsAsAll()
    {
        MultiTaskDataset data = Data(40);
        var c = WidthConfiguration.Parse("enc=0.5 dec=1,0.25");
        var other = WidthConfiguration.Parse("enc=0.75 dec=0.75,0.75");
        using MultiTaskNetwork all = Network(), only = Network(), untouched = Network();
        BatchNormPostStatistics.Compute(all, data, 40, 16, CPU);
        BatchNormPostStatistics.Compute(only, data, 40, 16, CPU, [c]);

        float[] expected = TinyNetwork.Outputs(all, data, c), actual = TinyNetwork.Outputs(only, data, c);
        for (int i = 0; i < expected.Length; i++) Assert.AreEqual(expected[i], actual[i], 1e-4f, $"output {i}");
        // Contexts the configuration does not use keep their old statistics.
        CollectionAssert.AreEqual(TinyNetwork.Outputs(untouched, data, other), TinyNetwork.Outputs(only, data, other));
        CollectionAssert.AreNotEqual(TinyNetwork.Outputs(untouched, data, c), TinyNetwork.Outputs(only, data, c));
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
