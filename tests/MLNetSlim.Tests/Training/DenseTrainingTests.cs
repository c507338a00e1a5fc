using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Evaluation;
using MLNetSlim.Model;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Training;

namespace MLNetSlim.Tests.Training;

[TestClass]
public class DenseTrainingTests
{
    internal static readonly TaskDefinition[] Tasks =
    [
        new("seg", TaskKind.Segmentation, 3) { IgnoreValue = 255 },
        TaskDefinition.PerPixel("depth", TaskKind.Depth, ignoreValue: 0),
        TaskDefinition.PerPixel("edges", TaskKind.Edges),
        new("side", TaskKind.Classification, 2),
    ];

    /// <summary>
    /// n seeded 16x16 scenes: one bright (class 1) or mid-grey (class 2) square of side 4-7 on black; seg = its class
    /// (the 1-pixel border of the image is 255 = ignored), depth = 1 on the square and 3 elsewhere (a zero pixel in the
    /// corner = no measurement), edges = the square's outline, side = whether its centre is in the right half.
    /// </summary>
    internal static MultiTaskDataset Squares(int n, int seed, TaskDefinition[]? tasks = null)
    {
        const int size = 16;
        var rng = new Random(seed);
        var images = new float[n * size * size];
        var seg = new float[n * size * size];
        var depth = new float[n * size * size];
        var edges = new float[n * size * size];
        var side = new int[n];
        for (int i = 0; i < n; i++)
        {
            int s = rng.Next(4, 8), x0 = rng.Next(0, size - s), y0 = rng.Next(0, size - s);
            int cls = rng.Next(1, 3);
            side[i] = x0 + s / 2 >= size / 2 ? 1 : 0;
            for (int y = 0; y < size; y++)
                for (int x = 0; x < size; x++)
                {
                    int p = i * size * size + y * size + x;
                    bool inside = x >= x0 && x < x0 + s && y >= y0 && y < y0 + s;
                    images[p] = inside ? (cls == 1 ? 1f : 0.5f) : 0f;
                    bool border = x == 0 || y == 0 || x == size - 1 || y == size - 1;
                    seg[p] = border ? 255 : inside ? cls : 0;
                    depth[p] = x == 0 && y == 0 ? 0 : inside ? 1 : 3;
                    edges[p] = inside && (x == x0 || y == y0 || x == x0 + s - 1 || y == y0 + s - 1) ? 1 : 0;
                }
        }
        return new MultiTaskDataset(images, 1, size, size, tasks ?? Tasks, [[], [], [], side], [seg, depth, edges, null]);
    }

    internal static ModelOptions SmallOptions(int epochs = 6) => new()
    {
        Backbone = new BackboneOptions { StageChannels = [8, 16, 16], StageDepths = [1, 1, 1] },
        Widths = [0.5, 1.0],
        PyramidChannels = 8,
        Training = new TrainingOptions { Epochs = epochs, BatchSize = 16, LearningRate = 5e-3, PostStatisticsImages = 128, Seed = 1, InplaceDistillationWeight = 1.0 },
    };

    [TestMethod]
    public void PerPixelAndPerImageTasks_TrainTogether_AndCalibrateWithEachTasksDirection()
    {
        MultiTaskDataset train = Squares(256, 1), validation = Squares(64, 2);
        var reports = new List<TrainingProgress>();
        using ControllableMultiTaskModel model = ModelTrainer.Train(train, validation, SmallOptions(), new SyncProgress(reports));
        TrainingProgress first = reports.First(), last = reports.Last();
        foreach (TaskDefinition t in Tasks)
            Assert.IsTrue(last.TaskLosses[t.Name] < first.TaskLosses[t.Name], $"{t.Name}: {first.TaskLosses[t.Name]} -> {last.TaskLosses[t.Name]}");
        Assert.IsTrue(reports.All(r => double.IsFinite(r.DistillationLoss) && r.DistillationLoss >= 0));

        CalibrationTable cal = model.Calibration;
        CollectionAssert.AreEqual(new[] { true, false, true, true }, Enumerable.Range(0, 4).Select(cal.HigherIsBetter).ToArray());
        // Full configuration: relative performance 1 for every task, whatever the metric's direction.
        for (int t = 0; t < 4; t++) Assert.AreEqual(1.0, cal.Relative(t, cal.FullEncoderOption, cal.WidthCount - 1), 1e-12);

        TaskMetrics[] full = NetworkEvaluator.Metrics(model.Network, validation, model.Network.FullConfiguration);
        Assert.IsTrue(full[0].All["pixelAccuracy"] > 0.8, $"seg pixel accuracy {full[0].All["pixelAccuracy"]}");
        Assert.IsTrue(full[1].Primary < 1.5, $"depth RMSE {full[1].Primary} (predicting the mean would give ~0.9)");
        Assert.IsTrue(full[3].Primary > 0.6, $"side accuracy {full[3].Primary}");
        // The calibration table holds the evaluator's primary metric (RMSE for depth, lower is better).
        Assert.AreEqual(full[1].Primary, cal.Metric(1, cal.FullEncoderOption, cal.WidthCount - 1), 1e-9);

        // Search and the Pareto front work over the mixed tasks: a strong depth preference never gets a narrower
        // depth decoder than a strong segmentation preference at the same budget.
        SearchResult depthFirst = model.Select(Budget.FractionOfFull(0.8), [0.05, 0.85, 0.05, 0.05]);
        SearchResult segFirst = model.Select(Budget.FractionOfFull(0.8), [0.85, 0.05, 0.05, 0.05]);
        Assert.IsTrue(depthFirst.Configuration.DecoderWidths[1] >= segFirst.Configuration.DecoderWidths[1]);
        Assert.IsTrue(depthFirst.Macs <= 0.8 * model.Network.CostTable.FullMacs);
    }

    [TestMethod]
    public void PixelLabels_FollowSubsetAndSelectTasks_AndAreChecked()
    {
        MultiTaskDataset data = Squares(5, 3);
        MultiTaskDataset sub = data.Subset([4, 1]);
        CollectionAssert.AreEqual(data.PixelLabels[1]!.AsSpan(4 * 256, 256).ToArray(), sub.PixelLabels[1]!.AsSpan(0, 256).ToArray());
        MultiTaskDataset depthOnly = data.SelectTasks("depth");
        Assert.AreSame(data.PixelLabels[1], depthOnly.PixelLabels[0]);
        var e = Assert.ThrowsExactly<ArgumentException>(() => new MultiTaskDataset(new float[256], 1, 16, 16, [Tasks[0]], [[]], [new float[255]]));
        StringAssert.Contains(e.Message, "'seg'");
        var bad = new float[256];
        bad[3] = 7;
        e = Assert.ThrowsExactly<ArgumentException>(() => new MultiTaskDataset(new float[256], 1, 16, 16, [Tasks[0]], [[]], [bad]));
        StringAssert.Contains(e.Message, "label 7");
    }
}

internal sealed class SyncProgress(List<TrainingProgress> sink) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => sink.Add(value);
}

[TestClass]
public class DenseModelFileTests
{
    [TestMethod]
    public void DenseModel_SavesAndLoads_WithItsTasksAndPredictions()
    {
        MultiTaskDataset train = DenseTrainingTests.Squares(64, 4);
        using ControllableMultiTaskModel model = ModelTrainer.Train(train, train, DenseTrainingTests.SmallOptions(epochs: 1));
        using var stream = new MemoryStream();
        model.Save(stream);
        stream.Position = 0;
        using ControllableMultiTaskModel loaded = ControllableMultiTaskModel.Load(stream);
        for (int t = 0; t < 4; t++)
        {
            Assert.AreEqual(model.Tasks[t].Kind, loaded.Tasks[t].Kind);
            Assert.AreEqual(model.Tasks[t].IgnoreValue, loaded.Tasks[t].IgnoreValue);
        }
        float[] image = train.Images.AsSpan(0, 256).ToArray();
        var half = new WidthConfiguration(1.0, 0.5, 1.0, 0.5, 1.0);
        float[][] a = model.Predict(image, 1, half), b = loaded.Predict(image, 1, half);
        for (int t = 0; t < 4; t++) CollectionAssert.AreEqual(a[t], b[t], $"task {t}");
        // Layouts: seg K x H x W probabilities summing to 1 per pixel; depth H x W; edges probabilities; side (K).
        Assert.AreEqual(3 * 256, a[0].Length);
        Assert.AreEqual(1.0, a[0][0] + a[0][256] + a[0][512], 1e-5);
        Assert.AreEqual(256, a[1].Length);
        Assert.IsTrue(a[2].All(p => p >= 0 && p <= 1));
        Assert.AreEqual(2, a[3].Length);
    }
}
