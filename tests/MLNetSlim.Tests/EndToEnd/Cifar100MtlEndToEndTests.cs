using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Datasets;
using MLNetSlim.Evaluation;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Tests.Datasets;

namespace MLNetSlim.Tests.EndToEnd;

/// <summary>
/// The 20-task path of CIFAR100-MTL end to end on a small CIFAR-100 binary file written by the test: the lazy IDataView
/// (one labelled task per row, 19 missing keys) -> the estimator with 20 tasks -> training, calibration table, the
/// search (20 tasks: the grid DP solver), controllability metrics against the preference-blind baseline, steering, and
/// save/load with identical predictions.
/// </summary>
[TestClass]
public class Cifar100MtlEndToEndTests
{
    [TestMethod]
    public void TwentyTasks_TrainCalibrateSearchSteerAndRoundTrip()
    {
        string folder = TestData.NewTempFolder();
        // 3 images per fine class = 15 per task, 300 rows; the red plane encodes the class within the task.
        int[] fines = Enumerable.Range(0, 300).Select(i => i % 100).ToArray();
        Cifar100MtlTests.WriteBin(Path.Combine(folder, "train.bin"), fines, seed: 5, signal: true);
        // Held-out rows for the calibration table: 50 per task (10 per class). The table divides by each task's
        // full-width accuracy, which must be positive; with a handful of held-out rows per task that is luck.
        Cifar100MtlTests.WriteBin(Path.Combine(folder, "test.bin"), Enumerable.Range(0, 1000).Select(i => i % 100).ToArray(), seed: 6, signal: true);
        IDataView train = Cifar100Mtl.LoadDataView(DataSplit.Train, folder);
        IDataView heldOut = Cifar100Mtl.LoadDataView(DataSplit.Test, folder);

        var ml = new MLContext(seed: 1).AddMLNetSlim();
        var options = new ControllableMultiTaskEstimator.Options
        {
            ImageChannels = 3,
            ImageHeight = 32,
            ImageWidth = 32,
            Widths = [0.5, 1.0],
            Epochs = 1,
            BatchSize = 60,
            SandwichRandomCount = 0,
            SandwichFinalEpochExtraCount = 0,
            ValidationData = heldOut,
            Seed = 7,
        };
        options.Tasks.AddRange(Cifar100Mtl.Tasks.Select(t => new ControllableMultiTaskEstimator.TaskColumn(t.Name)));
        ITransformer model = ml.MulticlassClassification.Trainers.ControllableMultiTask(options).Fit(train);

        ControllableMultiTaskTransformer slim = model.GetControllableMultiTaskTransformer();
        var trained = (ControllableMultiTaskModel)slim.Model;
        Assert.AreEqual(20, trained.Tasks.Count);
        CollectionAssert.AreEqual(new[] { "beaver", "dolphin", "otter", "seal", "whale" }, trained.Tasks[0].ClassNames.ToArray());

        // Calibration: every task measured on its own labelled held-out rows only (a missing label counted as a
        // wrong answer would keep every accuracy at or below 1/20).
        CalibrationTable cal = trained.Calibration;
        Assert.AreEqual(20, cal.TaskCount);
        double[] full = Enumerable.Range(0, 20).Select(t => cal.Metric(t, cal.FullEncoderOption, cal.WidthCount - 1)).ToArray();
        Assert.IsTrue(full.All(a => a >= 0 && a <= 1));
        // 1,000 held-out rows, 50 per task: counting the 950 rows of other tasks would keep every accuracy <= 50/1000.
        Assert.IsTrue(full.Any(a => a > 0.1), "a task's accuracy over its own rows exceeds what counting every row allows: " +
            string.Join(", ", full.Select(a => a.ToString("0.00"))));

        // The search with 20 tasks: 2^20 decoder configurations per encoder option exceed the enumeration limit, so the
        // grid DP answers; never over budget, and the preferred task gets the widest decoder.
        ConfigurationSearch search = trained.Search;
        var clock = Stopwatch.StartNew();
        for (int k = 0; k < 20; k++)
        {
            double[] p = Enumerable.Range(0, 20).Select(t => t == k ? 1.0 : 0.0).ToArray();
            SearchResult r = search.Search(Budget.FractionOfFull(0.75), p);
            Assert.IsTrue(r.Macs <= 0.75 * trained.Costs.FullMacs + 1e-6, $"query {k}: {r.Macs} MACs over budget");
            Assert.AreEqual(1.0, r.Configuration.DecoderWidths[k], $"preferring task {k} alone: {r.Configuration}");
        }
        Console.WriteLine($"20 single-task-preference queries: {clock.Elapsed.TotalMilliseconds:0.0} ms in all");

        // Controllability metrics: ECMT search against the equal-width baseline on the same preference vectors.
        var baseline = new EqualWidthController(trained.Costs, trained.Calibration);
        ControllabilityComparison cmp = ControllabilityEvaluator.Compare(search, baseline,
            [Budget.FractionOfFull(0.6), Budget.FractionOfFull(0.8)], 20, seed: 3);
        Assert.AreEqual(1.0, cmp.Search.BudgetAdherence);
        Assert.AreEqual(20, cmp.Search.Tasks);
        // On this barely trained model the measured table is noise, so the rank correlation itself proves nothing; what
        // must hold: the metrics exist for 20 tasks, the baseline ignores preferences, the search answers to them.
        Assert.IsTrue(double.IsFinite(cmp.Search.MeanSpearman) && double.IsFinite(cmp.Search.MeanHypervolume));
        Assert.AreEqual(0.0, cmp.Baseline.MeanSpearman, 1e-12, "the equal-width baseline is preference-blind");
        Assert.IsTrue(cmp.Baseline.PerBudget.All(b => b.DistinctConfigurations == 1));
        Assert.IsTrue(cmp.Search.PerBudget.All(b => b.DistinctConfigurations > 1), "the search picks different configurations for different preferences");

        // Steer through the transformer, save, load, and predict the same.
        slim.Budget = Budget.FractionOfFull(0.7);
        slim.TaskWeights = new Dictionary<string, double> { ["people"] = 0.9, ["trees"] = 0.1 };
        string zip = Path.Combine(folder, "model.zip");
        ml.Model.SaveAtomic(model, train.Schema, zip);
        ITransformer loaded = ml.Model.LoadChecked(zip, out _);
        ControllableMultiTaskTransformer slim2 = loaded.GetControllableMultiTaskTransformer();
        slim2.Budget = slim.Budget;
        slim2.TaskWeights = slim.TaskWeights;
        Assert.AreEqual(slim.Configuration, slim2.Configuration);
        IDataView head = Cifar100Mtl.LoadDataView(DataSplit.Train, folder, count: 40);
        float[] before = Scores(ml, model.Transform(head), "Score.people");
        float[] after = Scores(ml, loaded.Transform(head), "Score.people");
        Assert.AreEqual(40 * 5, before.Length);
        CollectionAssert.AreEqual(before, after);

        // The demo's cifar100-mtl command reports on this model (its training step is the Fit above with its options);
        // its test rows are the held-out rows, which already gave every task a positive accuracy.
        MultiTaskDataset test = Cifar100Mtl.Load(DataSplit.Test, folder);
        var single = Cifar100Mtl.Tasks.ToDictionary(t => t.Name, t => 0.5);
        string output = Path.Combine(folder, "out");
        MLNetSlim.Demo.Cifar100MtlReport report = MLNetSlim.Demo.Cifar100MtlBenchmark.Report(trained, test, new MLNetSlim.Demo.Cifar100MtlSettings(
            folder, "cpu", "small", 1, 60, 2e-3, null, null, 7, SingleTaskBaselines: false, PreferenceVectors: 10, Out: output), 300, single, _ => { });
        Assert.AreEqual(1000, report.TestRows);
        double[] direct = trained.Evaluate(test, trained.Costs.Full.Widths);
        CollectionAssert.AreEqual(direct, report.TestAccuracy.Values.ToArray());
        Assert.AreEqual(direct.Average(), report.MeanTestAccuracy, 1e-12);
        Assert.IsTrue(report.Budgets.All(b => b.MacsFraction <= b.Budget + 1e-12), "every budget kept");
        Assert.AreEqual(1.0, report.BudgetAdherence);
        Assert.AreEqual(MultiTaskMetrics.DeltaMtl(direct, Enumerable.Repeat(0.5, 20).ToArray(), Enumerable.Repeat(false, 20).ToArray()), report.DeltaMtlPercent!.Value, 1e-9);
        foreach (string file in new[] { "report.json", "report.md" }) Assert.IsTrue(File.Exists(Path.Combine(output, file)), file);
        StringAssert.Contains(File.ReadAllText(Path.Combine(output, "report.md")), "Delta-MTL against the single-task networks");
    }

    private static float[] Scores(MLContext ml, IDataView scored, string column) =>
        scored.GetColumn<float[]>(column).SelectMany(v => v).ToArray();
}
