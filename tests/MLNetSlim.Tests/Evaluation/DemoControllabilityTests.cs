using Microsoft.ML;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Demo;
using MLNetSlim.Evaluation;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Tests.Integrity;
using MLNetSlim.Training;

namespace MLNetSlim.Tests.Evaluation;

/// <summary>The main job's controllability section through the ML.NET catalog method (issue 10).</summary>
[TestClass]
public class DemoControllabilityTests
{
    [TestMethod]
    public void TheMainJobsControllability_ThroughEvaluateControllability_EqualsTheHandLoops_PerBudget()
    {
        ModelOptions options = TinyModel.Options();
        options.Widths = [0.25, 0.5, 0.75, 1.0];
        options.Training.Epochs = 4;
        MultiTaskDataset data = TinyModel.Data(96);
        using ControllableMultiTaskModel model = ModelTrainer.Train(data, null, options);
        MultiTaskDataset test = data; // (the figures' equality is the point; every task needs a positive full-width metric)
        var ml = new MLContext(0);
        IDataView labelled = MLNetBridge.LabelledView(ml, test);
        ControllableMultiTaskTransformer transformer = ml.Transforms.ApplyControllableMultiTaskModel(model).Fit(labelled);

        // The hand loops the main job used: the test accuracy table, then the research evaluator on both controllers.
        CalibrationTable testTable = ModelTrainer.Calibrate(model.Network, test, model.Device);
        ControllabilitySection hand = new Analyzer(model, test).Controllability(testTable, preferenceVectors: 25, seed: 3);
        (ControllabilitySection viaMLNet, CalibrationTable measured) = Analyzer.ControllabilityWithTable(ml, transformer, labelled, test.Count, preferenceVectors: 25, seed: 3);

        // The table EvaluateControllability measured (which the main job reuses for its sweeps and space instead of a
        // second pass over the test set) is the hand-measured test table, entry for entry.
        for (int t = 0; t < testTable.TaskCount; t++)
            for (int e = 0; e < testTable.EncoderOptionCount; e++)
                for (int d = 0; d < testTable.WidthCount; d++)
                    Assert.AreEqual(testTable.Metric(t, e, d), measured.Metric(t, e, d), $"task {t}, encoder option {e}, width {d}");

        Assert.AreEqual(3, hand.Comparison.Search.PerBudget.Count);
        Assert.IsTrue(hand.Comparison.Search.PerBudget.All(b => b.Queries == 25 && double.IsFinite(b.Hypervolume) && b.BudgetAdherence == 1));
        // Exactly equal: every figure of both controllers, overall and per budget (JSON round-trips doubles exactly).
        Assert.AreEqual(hand.Comparison.ToJson(), viaMLNet.Comparison.ToJson());
        Assert.AreEqual(hand with { Comparison = viaMLNet.Comparison }, viaMLNet);
    }
}
