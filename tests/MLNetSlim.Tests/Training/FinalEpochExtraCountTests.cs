using MLNetSlim.Architecture;
using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Tests.Network;
using MLNetSlim.Training;

namespace MLNetSlim.Tests.Training;

/// <summary>TrainingOptions.SandwichFinalEpochExtraCount: one more random configuration per step in the last epoch.</summary>
[TestClass]
public class FinalEpochExtraCountTests
{
    [TestMethod]
    public void RandomCount_IsKInTheFirstEpochs_AndKPlusExtraInTheLast()
    {
        var defaults = new TrainingOptions();
        Assert.AreEqual(3, defaults.Epochs);
        CollectionAssert.AreEqual(new[] { 1, 1, 2 }, new[] { 1, 2, 3 }.Select(defaults.SandwichRandomCountAt).ToArray());
        var custom = new TrainingOptions { Epochs = 2, SandwichRandomCount = 3, SandwichFinalEpochExtraCount = 2 };
        CollectionAssert.AreEqual(new[] { 3, 5 }, new[] { 1, 2 }.Select(custom.SandwichRandomCountAt).ToArray());
        Assert.AreEqual(2, new TrainingOptions { Epochs = 1 }.SandwichRandomCountAt(1), "one epoch: the last one throughout");
        var off = new TrainingOptions { SandwichFinalEpochExtraCount = 0 };
        CollectionAssert.AreEqual(new[] { 1, 1, 1 }, new[] { 1, 2, 3 }.Select(off.SandwichRandomCountAt).ToArray());

        var ex = Assert.ThrowsExactly<ArgumentException>(() => new TrainingOptions { SandwichFinalEpochExtraCount = -1 }.Validate(2));
        StringAssert.Contains(ex.Message, "SandwichFinalEpochExtraCount");
        StringAssert.Contains(ex.Message, "-1");
    }

    [TestMethod]
    public void TheLastEpochsExtraConfigurations_ChangeTheWeights_AndTheCheckpointKey()
    {
        TaskDefinition[] tasks = TinyNetwork.Tasks(4);
        MultiTaskDataset data = TinyNetwork.Data(tasks, 64);
        float[] Train(int epochs, int extra)
        {
            using MultiTaskNetwork net = TinyNetwork.Create(tasks, seed: 2);
            SupernetTrainer.Train(net, data, new TrainingOptions
            {
                Epochs = epochs, BatchSize = 16, Seed = 4, PostStatisticsImages = 0, SandwichFinalEpochExtraCount = extra,
                Schedule = LearningRateSchedule.Constant,
            });
            return TinyNetwork.Outputs(net, data, net.FullConfiguration);
        }
        // Two epochs, a constant learning rate: the last epoch's extra random configuration must reach the weights.
        CollectionAssert.AreEqual(Train(1, 0), Train(1, 0), "deterministic");
        float[] withExtra = Train(2, 1), without = Train(2, 0);
        Assert.IsTrue(withExtra.Zip(without, (a, b) => Math.Abs(a - b)).Max() > 1e-4, "the last epoch's extra configurations change the weights");

        using MultiTaskNetwork net = TinyNetwork.Create(tasks, seed: 2);
        var batches = new InMemoryBatches(data);
        string key = TrainingCheckpoint.KeyOf(net, batches, new TrainingOptions());
        StringAssert.Contains(key, "final-epoch-extra=1");
        Assert.AreNotEqual(key, TrainingCheckpoint.KeyOf(net, batches, new TrainingOptions { SandwichFinalEpochExtraCount = 0 }));
    }
}
