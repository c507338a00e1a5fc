using MLNetSlim.Data;
using MLNetSlim.Evaluation;
using MLNetSlim.Network;
using MLNetSlim.Training;
using static TorchSharp.torch;
using MLNetSlim.Architecture;
using MLNetSlim.Datasets;
using MLNetSlim.Model;

namespace MLNetSlim.Tests.Training;

[TestClass]
public class TrainingTests
{
    private static async Task<(MultiTaskDataset Train, MultiTaskDataset Test)> DataAsync(int train, int test)
    {
        LabeledImages mnist = await TestData.MnistAsync(DataSplit.Train);
        LabeledImages fashion = await TestData.FashionMnistAsync(DataSplit.Train);
        LabeledImages mnistTest = await TestData.MnistAsync(DataSplit.Test);
        LabeledImages fashionTest = await TestData.FashionMnistAsync(DataSplit.Test);
        return (MultiFashionMnist.Create(mnist, fashion, train, seed: 0), MultiFashionMnist.Create(mnistTest, fashionTest, test, seed: 0));
    }

    private static NetworkOptions Options(IReadOnlyList<TaskDefinition> tasks) => new() { Tasks = tasks.ToArray() };

    [TestMethod]
    public async Task TwoHundredStepsOnRealData_CutTheLoss_AndBeatChanceWidely()
    {
        (MultiTaskDataset train, MultiTaskDataset test) = await DataAsync(3400, 1000);
        var reports = new List<TrainingProgress>();
        var options = new ModelOptions
        {
            Training = new TrainingOptions { Epochs = 1, BatchSize = 16, ProgressEverySteps = 20, PostStatisticsImages = 512 },
            ValidationFraction = 0.05,
        };
        using ControllableMultiTaskModel model = ModelTrainer.Train(train, null, options, new SyncProgress(reports));
        List<TrainingProgress> steps = reports.Where(r => !r.IsEpochEnd).ToList();
        Assert.IsTrue(steps.Count >= 9, $"{steps.Count} step reports");
        Assert.AreEqual(201, steps[^1].TotalSteps, "3230 training images (170 held out) / 16 per step");
        foreach (string task in new[] { "digit", "fashion" })
            Assert.IsTrue(steps[^1].TaskLosses[task] < 0.6 * steps[0].TaskLosses[task], $"{task}: loss {steps[0].TaskLosses[task]:0.000} -> {steps[^1].TaskLosses[task]:0.000}");
        Assert.IsTrue(steps.All(s => s.DistillationLoss > 0 && double.IsFinite(s.DistillationLoss)));

        double[] full = model.Evaluate(test, model.Network.FullConfiguration);
        double[] smallest = model.Evaluate(test, model.Network.SmallestConfiguration);
        // Chance is 10% for each 10-way task.
        Assert.IsTrue(full.All(a => a > 0.4), $"full configuration accuracy {string.Join(", ", full)}");
        Assert.IsTrue(smallest.All(a => a > 0.25), $"smallest configuration accuracy {string.Join(", ", smallest)}");
    }

    [TestMethod]
    public async Task SameSeedAndData_GiveTheSameWeights_DifferentSeedsDoNot()
    {
        (MultiTaskDataset train, _) = await DataAsync(640, 1);
        byte[] Train(int seed)
        {
            using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(Options(train.Tasks), seed);
            SupernetTrainer.Train(net, train, new TrainingOptions { Epochs = 1, BatchSize = 64, Seed = seed, PostStatisticsImages = 128 });
            using var ms = new MemoryStream();
            using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) net.save(w);
            return ms.ToArray();
        }
        byte[] a = Train(7), b = Train(7), c = Train(8);
        CollectionAssert.AreEqual(a, b, "same seed, same data: bit-identical weights and statistics");
        CollectionAssert.AreNotEqual(a, c);
    }

    [TestMethod]
    public async Task RepeatedSteps_LeakNoTensors_AndNoNativeMemory()
    {
        (MultiTaskDataset train, _) = await DataAsync(64 * 8, 1);
        using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(Options(train.Tasks), 1);
        var options = new TrainingOptions { Epochs = 1, BatchSize = 64, PostStatisticsImages = 0 };
        SupernetTrainer.Train(net, train, options); // warm-up: allocator pools, optimiser state
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long liveBefore = TorchSharp.DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        long rssBefore = System.Diagnostics.Process.GetCurrentProcess().WorkingSet64;
        for (int i = 0; i < 6; i++) SupernetTrainer.Train(net, train, options); // 48 more steps
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long liveAfter = TorchSharp.DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        long rssGrowth = System.Diagnostics.Process.GetCurrentProcess().WorkingSet64 - rssBefore;
        Assert.AreEqual(liveBefore, liveAfter, "live tensors after 48 more steps");
        Assert.IsTrue(rssGrowth < 64L << 20, $"resident memory grew by {rssGrowth >> 20} MB over 48 steps");
    }

    [TestMethod]
    public void ConfigurationInvariantDistillation_IsZeroForTheTeachersOwnLeadingChannels()
    {
        manual_seed(0);
        using Tensor teacher = randn(4, 8, 3, 3);
        using Tensor same = teacher.narrow(1, 0, 2).clone();
        using Tensor zero = zeros(4, 2, 3, 3).requires_grad_(true);
        using Tensor d0 = SupernetTrainer.ConfigurationInvariantDistillation(same, teacher);
        Assert.AreEqual(0f, d0.item<float>(), 1e-7);
        using Tensor d1 = SupernetTrainer.ConfigurationInvariantDistillation(zero, teacher);
        Assert.IsTrue(d1.item<float>() > 0.1f);
        d1.backward(); // an all-zero student has a finite gradient
        Assert.IsTrue(zero.grad!.isfinite().all().item<bool>());
    }

    [TestMethod]
    public void Cancellation_StopsTraining()
    {
        var tasks = new[] { new TaskDefinition("a", TaskKind.Classification, 2) };
        var data = new MultiTaskDataset(new float[64 * 784], 1, 28, 28, tasks, [new int[64]]);
        using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(Options(tasks), 0);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsExactly<OperationCanceledException>(() => SupernetTrainer.Train(net, data, new TrainingOptions { BatchSize = 8 }, null, cts.Token));
    }

    [TestMethod]
    public void ModelTrainer_WithoutValidationData_NeedsAHeldOutFraction_AndSaysWhy()
    {
        var tasks = new[] { new TaskDefinition("a", TaskKind.Classification, 2) };
        var data = new MultiTaskDataset(new float[16 * 784], 1, 28, 28, tasks, [new int[16]]);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ModelTrainer.Train(data, null, new ModelOptions { ValidationFraction = 0 }));
        StringAssert.Contains(e.Message, "ModelOptions.ValidationFraction must be in (0, 1)");
        StringAssert.Contains(e.Message, "pass them as the validation data");
    }

    private sealed class SyncProgress(List<TrainingProgress> sink) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => sink.Add(value);
    }
}
