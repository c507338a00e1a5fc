using Microsoft.ML;
using MLNetSlim.Architecture;
using MLNetSlim.Fixtures;
using MLNetSlim.MLNet;
using MLNetSlim.Training;

namespace MLNetSlim.Tests.MLNet;

/// <summary>Per-epoch validation metrics through the log channel and the progress callback, and early stopping on them
/// (issue 10, item 4).</summary>
[TestClass]
public class ValidationMetricsTests
{
    private static ControllableMultiTaskEstimator.Options Lazy(int epochs) => new()
    {
        Tasks = { new("Task0"), new("Task1") },
        ImageChannels = 1,
        ImageHeight = 8,
        ImageWidth = 8,
        Epochs = epochs,
        BatchSize = 8,
        Seed = 1,
        Widths = [0.5, 1.0],
        SandwichRandomCount = 0,
        SandwichFinalEpochExtraCount = 0,
        PostStatisticsImages = 16,
    };

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void WithValidationData_EveryEpochEnd_ReportsEachTasksMetric_ToTheLogAndTheProgress(bool stream)
    {
        var ml = new MLContext(1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        ControllableMultiTaskEstimator.Options o = Lazy(2);
        o.ValidationData = new LazyImageDataView(24, 1, 8, 8);
        o.InMemoryCacheLimitMB = stream ? 0 : 1024;
        var reports = new List<TrainingProgress>();
        o.Progress = new StreamingTests.ActionProgress(reports.Add);
        ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(new LazyImageDataView(48, 1, 8, 8));

        TrainingProgress[] ends = reports.Where(r => r.IsEpochEnd).ToArray();
        Assert.AreEqual(2, ends.Length);
        foreach (TrainingProgress r in ends)
        {
            CollectionAssert.AreEquivalent(new[] { "Task0", "Task1" }, r.ValidationMetrics!.Keys.ToArray());
            Assert.IsTrue(r.ValidationMetrics.Values.All(v => v >= 0 && v <= 1), string.Join(", ", r.ValidationMetrics.Values));
            Assert.IsFalse(r.StoppedEarly);
        }
        Assert.IsTrue(reports.Where(r => !r.IsEpochEnd).All(r => r.ValidationMetrics is null));
        Assert.AreEqual(2, log.Count(m => m.Contains("(epoch end)") && m.Contains("| validation Task0 ") && m.Contains(" Task1 ")), string.Join("\n", log));
    }

    [TestMethod]
    public void WithoutValidationData_NoValidationMetrics()
    {
        var ml = new MLContext(1);
        ControllableMultiTaskEstimator.Options o = Lazy(1);
        o.ValidationFraction = 0;
        var reports = new List<TrainingProgress>();
        o.Progress = new StreamingTests.ActionProgress(reports.Add);
        ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(new LazyImageDataView(32, 1, 8, 8));
        Assert.IsTrue(reports.Count > 0 && reports.All(r => r.ValidationMetrics is null));
    }

    [TestMethod]
    public void EarlyStopping_StopsAfterPatienceEpochsWithoutImprovement()
    {
        // An accuracy cannot improve by more than 1: after the first epoch (always an improvement) no epoch improves,
        // so patience 2 stops after epoch 3 of 6.
        var ml = new MLContext(1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        ControllableMultiTaskEstimator.Options o = Lazy(6);
        o.ValidationFraction = 0.25;
        o.EarlyStoppingPatience = 2;
        o.EarlyStoppingMinDelta = 1.0;
        var reports = new List<TrainingProgress>();
        o.Progress = new StreamingTests.ActionProgress(reports.Add);
        ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(new LazyImageDataView(48, 1, 8, 8));
        TrainingProgress[] ends = reports.Where(r => r.IsEpochEnd).ToArray();
        CollectionAssert.AreEqual(new[] { 1, 2, 3 }, ends.Select(r => r.Epoch).ToArray());
        CollectionAssert.AreEqual(new[] { false, false, true }, ends.Select(r => r.StoppedEarly).ToArray());
        Assert.IsTrue(log.Any(m => m.Contains("stopped early (no validation improvement)")), string.Join("\n", log));
    }

    [TestMethod]
    public void EarlyStoppingRule_FollowsEachTasksDirection_AndTheMinimumDelta()
    {
        TaskDefinition[] tasks = [new("acc", TaskKind.Classification, 2), TaskDefinition.PerPixel("depth", TaskKind.Depth)];
        var rule = new SupernetTrainer.EarlyStopping(tasks, patience: 2, minDelta: 0.01);
        Assert.IsFalse(rule.Observe([0.50, 1.00])); // first epoch: the best so far
        Assert.IsFalse(rule.Observe([0.505, 0.995])); // both better, but by less than 0.01: 1 stale epoch
        Assert.IsFalse(rule.Observe([0.40, 0.98])); // depth (lower is better) improved by 0.02: stale count resets
        Assert.IsFalse(rule.Observe([0.515, 0.975])); // acc +0.015 over its best 0.50: improvement
        Assert.IsFalse(rule.Observe([0.52, 0.97])); // stale 1 (acc +0.005 over 0.515, depth -0.005 over 0.975)
        Assert.IsTrue(rule.Observe([0.10, 2.0])); // stale 2 = patience
        var off = new SupernetTrainer.EarlyStopping(tasks, patience: 0, minDelta: 0);
        Assert.IsFalse(off.Observe([0.5, 1.0]) || off.Observe([0.5, 1.0]) || off.Observe([0.5, 1.0]), "patience 0: never stops");
    }
}
