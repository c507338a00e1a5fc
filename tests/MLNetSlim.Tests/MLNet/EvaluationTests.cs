using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Fixtures;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using static MLNetSlim.Tests.MLNet.MLNetTestData;

namespace MLNetSlim.Tests.MLNet;

/// <summary>Evaluate in ML.NET terms (issue 10).</summary>
[TestClass]
public class EvaluationTests
{
    [TestMethod]
    public void EvaluateControllableMultiTask_EqualsHandCalledEvaluatePerTask()
    {
        var ml = new MLContext(1);
        IDataView data = Keyed(ml, Rows(30));
        var transformer = new ControllableMultiTaskTransformer(TestModel());
        IDataView scored = transformer.Transform(data);
        IReadOnlyDictionary<string, MulticlassClassificationMetrics> metrics = ml.MulticlassClassification.EvaluateControllableMultiTask(scored, transformer);
        CollectionAssert.AreEqual(new[] { "Shape", "Size" }, metrics.Keys.ToArray());
        foreach (string task in new[] { "Shape", "Size" })
        {
            MulticlassClassificationMetrics hand = ml.MulticlassClassification.Evaluate(scored, labelColumnName: task,
                scoreColumnName: ControllableMultiTaskTransformer.ScoreColumnName(task), predictedLabelColumnName: ControllableMultiTaskTransformer.PredictedLabelColumnName(task));
            MulticlassClassificationMetrics m = metrics[task];
            Assert.AreEqual(hand.MicroAccuracy, m.MicroAccuracy, 1e-12);
            Assert.AreEqual(hand.MacroAccuracy, m.MacroAccuracy, 1e-12);
            Assert.AreEqual(hand.LogLoss, m.LogLoss, 1e-12);
            Assert.AreEqual(hand.LogLossReduction, m.LogLossReduction, 1e-12);
            Assert.AreEqual(hand.TopKAccuracy, m.TopKAccuracy, 1e-12);
            CollectionAssert.AreEqual(hand.PerClassLogLoss.ToArray(), m.PerClassLogLoss.ToArray());
        }
        // The task-list overload gives the same.
        var byList = ml.MulticlassClassification.EvaluateControllableMultiTask(scored, new[] { "Size" });
        Assert.AreEqual(metrics["Size"].MicroAccuracy, byList["Size"].MicroAccuracy, 1e-12);
    }

    [TestMethod]
    public void EvaluateControllability_GivesEveryPoint_AndTheFiguresAgainstTheBaseline()
    {
        (MLContext ml, LazyImageDataView data, ControllableMultiTaskTransformer t, Budget[] budgets, IReadOnlyDictionary<string, double>[] prefs) =
            TwoTaskSweep();
        Budget before = t.Budget;
        ControllabilityEvaluation r = ml.MulticlassClassification.EvaluateControllability(data, t, budgets, prefs);

        Assert.AreEqual(4, r.Points.Count);
        Assert.AreEqual(before.ToString(), t.Budget.ToString(), "the transformer's control is restored");
        foreach (ControllabilityPoint p in r.Points)
        {
            Assert.IsTrue(p.FractionOfFullMacs <= p.Budget.Value + 1e-12);
            t.Budget = p.Budget;
            t.TaskWeights = p.TaskWeights;
            Assert.AreEqual(t.Configuration, p.Configuration);
            var hand = ml.MulticlassClassification.EvaluateControllableMultiTask(t.Transform(data), t);
            Assert.AreEqual(hand["Task1"].MicroAccuracy, p.Metrics["Task1"].MicroAccuracy, 1e-12);
        }
        Assert.IsNotNull(r.Search);
        Assert.IsNotNull(r.Baseline);
        Assert.AreEqual(1.0, r.Search.BudgetAdherence);
        Assert.AreEqual(1.0, r.Baseline.BudgetAdherence);
        Assert.IsTrue(r.Search.MeanHypervolume is >= 0 and <= 1);
        // Per budget, in the order given; the overall figures are their means (adherence over all queries).
        foreach (ControllabilityFigures f in new[] { r.Search, r.Baseline })
        {
            CollectionAssert.AreEqual(budgets, f.PerBudget.Select(b => b.Budget).ToArray());
            Assert.IsTrue(f.PerBudget.All(b => b.Queries == 2 && b.BudgetAdherence == 1.0 && b.DistinctConfigurations is >= 1 and <= 2));
            Assert.AreEqual(f.PerBudget.Average(b => b.MeanSpearman), f.MeanSpearman, 1e-15);
            Assert.AreEqual(f.PerBudget.Average(b => b.Hypervolume), f.MeanHypervolume, 1e-15);
            Assert.AreEqual(f.PerBudget.Average(b => b.MeanUniformity), f.MeanUniformity, 1e-15);
        }
        Assert.AreEqual(1, r.Search.PerBudget[1].DistinctConfigurations, "the full budget has one configuration");
    }

    [TestMethod]
    public void EvaluateControllability_WithoutPointMetrics_GivesTheSameFiguresAndConfigurations_AndNoPointMetrics()
    {
        (MLContext ml, LazyImageDataView data, ControllableMultiTaskTransformer t, Budget[] budgets, IReadOnlyDictionary<string, double>[] prefs) =
            TwoTaskSweep();
        ControllabilityEvaluation full = ml.MulticlassClassification.EvaluateControllability(data, t, budgets, prefs);
        ControllabilityEvaluation lean = ml.MulticlassClassification.EvaluateControllability(data, t, budgets, prefs, pointMetrics: false);

        Assert.AreEqual(full.Points.Count, lean.Points.Count);
        for (int i = 0; i < full.Points.Count; i++)
        {
            Assert.AreEqual(full.Points[i].Configuration, lean.Points[i].Configuration);
            Assert.AreEqual(full.Points[i].Macs, lean.Points[i].Macs);
            Assert.AreEqual(2, full.Points[i].Metrics.Count);
            Assert.AreEqual(0, lean.Points[i].Metrics.Count, "no pass through Transform, so no ML.NET metrics");
            Assert.AreEqual(0, lean.Points[i].PerPixelMetrics.Count);
            // The measured table gives each point's primary metric: the accuracy ML.NET measured at that configuration.
            ResolvedConfiguration r = ((ControllableMultiTaskModel)t.Model).Costs.Resolve(lean.Points[i].Configuration);
            for (int task = 0; task < 2; task++)
                Assert.AreEqual(full.Points[i].Metrics[$"Task{task}"].MicroAccuracy,
                    lean.MeasuredTable!.Metric(task, r.EncoderOption, r.DecoderWidthIndex(task)), 1e-6);
        }
        foreach ((ControllabilityFigures a, ControllabilityFigures b) in new[] { (full.Search!, lean.Search!), (full.Baseline!, lean.Baseline!) })
            for (int k = 0; k < budgets.Length; k++)
            {
                Assert.AreEqual(a.PerBudget[k].MeanSpearman, b.PerBudget[k].MeanSpearman, 1e-15);
                Assert.AreEqual(a.PerBudget[k].Hypervolume, b.PerBudget[k].Hypervolume, 1e-15);
                Assert.AreEqual(a.PerBudget[k].DistinctConfigurations, b.PerBudget[k].DistinctConfigurations);
            }
    }

    /// <summary>A transformer fitted on 64 lazy 8x8 rows of two tasks, and the two budgets and two preferences both
    /// controllability tests sweep.</summary>
    private static (MLContext Ml, LazyImageDataView Data, ControllableMultiTaskTransformer Transformer, Budget[] Budgets,
        IReadOnlyDictionary<string, double>[] Preferences) TwoTaskSweep()
    {
        var ml = new MLContext(1);
        var o = new ControllableMultiTaskEstimator.Options
        {
            Tasks = { new("Task0"), new("Task1") }, ImageChannels = 1, ImageHeight = 8, ImageWidth = 8,
            Epochs = 1, BatchSize = 16, Seed = 1, ValidationFraction = 0, PostStatisticsImages = 32,
        };
        var data = new LazyImageDataView(64, 1, 8, 8);
        ControllableMultiTaskTransformer t = ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(data);
        Budget[] budgets = { Budget.FractionOfFull(0.5), Budget.Full };
        var prefs = new IReadOnlyDictionary<string, double>[]
        {
            new Dictionary<string, double> { ["Task0"] = 0.9, ["Task1"] = 0.1 },
            new Dictionary<string, double> { ["Task0"] = 0.1, ["Task1"] = 0.9 },
        };
        return (ml, data, t, budgets, prefs);
    }
}
