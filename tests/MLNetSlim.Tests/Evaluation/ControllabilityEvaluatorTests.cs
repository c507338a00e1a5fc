using MLNetSlim.Control;
using MLNetSlim.Evaluation;
using MLNetSlim.Fixtures;

namespace MLNetSlim.Tests.Evaluation;

[TestClass]
public class ControllabilityEvaluatorTests
{
    [TestMethod]
    public void SearchIsMoreControllableThanTheEqualWidthBaseline_AndBothStayWithinBudget()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(3, 8);
        var search = new ConfigurationSearch(problem.Costs, problem.Calibration);
        var baseline = new EqualWidthController(problem.Costs, problem.Calibration);
        // In this synthetic network the encoder dominates the cost: below ~0.33 (0.5 encoder) and from ~0.45 of full MACs up to the full encoder's
        // cost, the 0.75 encoder with every decoder at full width is the only sensible answer (nothing to control), so
        // the budgets are chosen where decoder widths must be traded off.
        Budget[] budgets = [Budget.FractionOfFull(0.35), Budget.FractionOfFull(0.38), Budget.FractionOfFull(0.4)];
        ControllabilityComparison cmp = ControllabilityEvaluator.Compare(search, baseline, budgets, 100, seed: 4);
        Assert.AreEqual(1.0, cmp.Search.BudgetAdherence);
        Assert.AreEqual(1.0, cmp.Baseline.BudgetAdherence);
        Assert.AreEqual(300, cmp.Search.Queries);
        Assert.IsTrue(cmp.Search.MeanBudgetUtilisation <= 1 && cmp.Search.MeanBudgetUtilisation > 0.8, $"{cmp.Search.MeanBudgetUtilisation}");
        Assert.IsTrue(cmp.Search.MeanSpearman > cmp.Baseline.MeanSpearman + 0.2, cmp.ToString());
        Assert.IsTrue(cmp.Search.MeanSpearman > 0.3, cmp.ToString());
        Assert.IsTrue(cmp.Search.PerBudget.All(b => b.DistinctConfigurations > 1), string.Join("\n", cmp.Search.PerBudget));
        Assert.IsTrue(cmp.Baseline.PerBudget.All(b => b.DistinctConfigurations == 1));
        Assert.IsTrue(cmp.Search.MeanHypervolume > 0 && cmp.Search.MeanHypervolume <= 1);

        string json = cmp.ToJson();
        ControllabilityComparison back = ControllabilityComparison.FromJson(json);
        Assert.AreEqual(cmp.Search.MeanSpearman, back.Search.MeanSpearman);
        Assert.AreEqual(cmp.Baseline.MeanHypervolume, back.Baseline.MeanHypervolume);
        Assert.AreEqual(3, back.Search.PerBudget.Count);
        StringAssert.Contains(json, "\"MeanUniformity\"");
    }

    [TestMethod]
    public void EvaluationTable_ScoresTheChosenConfigurationsInsteadOfTheControllersOwnCalibration()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(3, 8);
        CalibrationTable own = problem.Calibration;
        var search = new ConfigurationSearch(problem.Costs, own);
        var baseline = new EqualWidthController(problem.Costs, own);
        Budget[] budgets = [Budget.FractionOfFull(0.35), Budget.FractionOfFull(0.4)];

        // Passing the controller's own table changes nothing.
        ControllabilityComparison plain = ControllabilityEvaluator.Compare(search, baseline, budgets, 50, seed: 2);
        ControllabilityComparison same = ControllabilityEvaluator.Compare(search, baseline, budgets, 50, seed: 2, evaluation: own);
        Assert.AreEqual(plain.ToJson(), same.ToJson());

        // An evaluation table in which every configuration performs like the full one: P(c) = (1, 1, 1) for every query,
        // so Spearman is 0 (constant side), uniformity 1 (all relative losses 0) and the normalised hypervolume 1
        // (hi = lo), while the configurations, their costs and adherence stay those the controller chose with its own table.
        double[][][] flat = Enumerable.Range(0, own.TaskCount)
            .Select(_ => Enumerable.Range(0, own.EncoderOptionCount).Select(_ => Enumerable.Repeat(0.7, own.WidthCount).ToArray()).ToArray())
            .ToArray();
        var flatTable = new CalibrationTable(own.TaskNames, Enumerable.Range(0, own.TaskCount).Select(own.HigherIsBetter).ToArray(),
            own.DecoderWidths, flat, own.FullEncoderOption);
        ControllabilityComparison scored = ControllabilityEvaluator.Compare(search, baseline, budgets, 50, seed: 2, evaluation: flatTable);
        foreach ((ControllabilityReport before, ControllabilityReport after) in new[] { (plain.Search, scored.Search), (plain.Baseline, scored.Baseline) })
        {
            Assert.AreEqual(0.0, after.MeanSpearman);
            Assert.AreEqual(1.0, after.MeanUniformity, 1e-12);
            Assert.AreEqual(1.0, after.MeanHypervolume, 1e-12);
            Assert.AreEqual(before.BudgetAdherence, after.BudgetAdherence);
            Assert.AreEqual(before.MeanBudgetUtilisation, after.MeanBudgetUtilisation);
            CollectionAssert.AreEqual(before.PerBudget.Select(b => b.DistinctConfigurations).ToArray(),
                after.PerBudget.Select(b => b.DistinctConfigurations).ToArray());
        }
        Assert.AreNotEqual(0.0, plain.Search.MeanSpearman);

        // A table of another network is rejected, naming what differs.
        CalibrationTable other = SyntheticControlProblem.Create(2, 8).Calibration;
        ArgumentException e = Assert.ThrowsExactly<ArgumentException>(() =>
            ControllabilityEvaluator.Evaluate(search, budgets, 5, seed: 1, evaluation: other));
        StringAssert.Contains(e.Message, "tasks");
    }

    [TestMethod]
    public void SearchBenchmark_ReportsConsistentFigures()
    {
        SearchBenchmarkResult r = SearchBenchmark.Run(2, queries: 200, warmup: 20);
        Assert.AreEqual(2, r.Tasks);
        Assert.AreEqual("enumeration", r.Solver);
        Assert.AreEqual(200, r.Queries);
        Assert.IsTrue(r.QueriesPerSecond > 0 && r.P50Ms <= r.P99Ms && r.P99Ms <= r.MaxMs);
    }
}
