using MLNetSlim.Control;
using MLNetSlim.Evaluation;

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
    public void SearchBenchmark_ReportsConsistentFigures()
    {
        SearchBenchmarkResult r = SearchBenchmark.Run(2, queries: 200, warmup: 20);
        Assert.AreEqual(2, r.Tasks);
        Assert.AreEqual("enumeration", r.Solver);
        Assert.AreEqual(200, r.Queries);
        Assert.IsTrue(r.QueriesPerSecond > 0 && r.P50Ms <= r.P99Ms && r.P99Ms <= r.MaxMs);
    }
}
