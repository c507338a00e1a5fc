using MLNetSlim.Control;
using MLNetSlim.Architecture;
using MLNetSlim.Fixtures;

namespace MLNetSlim.Tests.Control;

[TestClass]
public class ControlConfigurationSearchTests
{
    /// <summary>Cheapest configuration's MACs (CostTable.SmallestMacs assumes the smallest width is an encoder option).</summary>
    internal static long Smallest(CostTable c) => Enumerable.Range(0, c.EncoderOptionCount)
        .Min(e => c.EncoderMacs(e) + Enumerable.Range(0, c.TaskCount).Sum(t => Enumerable.Range(0, c.Widths.Count).Min(d => c.DecoderMacs(t, e, d))));

    private static Budget RandomFraction(Random rng, CostTable costs)
    {
        double min = (Smallest(costs) + 1.0) / costs.FullMacs;
        return Budget.FractionOfFull(min + (1 - min) * rng.NextDouble());
    }

    [TestMethod]
    [DataRow(3, false)]  // exact enumeration
    [DataRow(20, true)]  // grid DP
    public void ThousandRandomQueries_AreAllWithinBudget(int tasks, bool dp)
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(tasks, 7, noise: 0.02);
        var search = new ConfigurationSearch(problem.Costs, problem.Calibration);
        Assert.AreEqual(dp, !search.UsesEnumeration);
        var rng = new Random(11);
        long full = problem.Costs.FullMacs;
        for (int i = 0; i < 1000; i++)
        {
            double[] p = Dirichlet.Sample(rng, tasks, 0.2);
            Budget b = i % 2 == 0
                ? RandomFraction(rng, problem.Costs)
                : Budget.Macs(problem.Costs.SmallestMacs + rng.NextDouble() * (full - problem.Costs.SmallestMacs));
            SearchResult r = search.Search(b, p);
            long macs = problem.Costs.Macs(r.Configuration); // independent recomputation
            Assert.AreEqual(macs, r.Macs);
            if (b.Unit == BudgetUnit.Macs) Assert.IsTrue(macs <= b.Value, $"{macs} > {b.Value}");
            else Assert.IsTrue((double)macs / full <= b.Value && macs <= b.Value * full, $"{macs}/{full} > {b.Value}");
            Assert.IsTrue(r.BudgetUtilisation <= 1.0);
        }
    }

    [TestMethod]
    [DataRow(3, 4096)]  // enumeration
    [DataRow(3, 0)]     // grid DP forced
    [DataRow(8, 4096)]  // grid DP (4^8 > 4096)
    public void RaisingOnePreference_NeverLowersThatTasksDecoderWidth(int tasks, int enumerationLimit)
    {
        int checks = 0, raised = 0;
        for (int seed = 0; seed < 10; seed++)
        {
            var (costs, cal) = ControlTestTables.Random(tasks, 100 + seed);
            var search = new ConfigurationSearch(costs, cal, options: new SearchOptions { EnumerationLimit = enumerationLimit });
            var rng = new Random(seed);
            for (int q = 0; q < 40; q++)
            {
                Budget b = RandomFraction(rng, costs);
                double[] p = Dirichlet.Sample(rng, tasks, 0.5);
                SearchResult before = search.Search(b, p);
                int k = rng.Next(tasks);
                double[] p2 = (double[])p.Clone();
                p2[k] += 0.05 + rng.NextDouble();
                SearchResult after = search.Search(b, p2);
                Assert.AreEqual(before.EncoderOption, after.EncoderOption, "stage 1 must not depend on preferences");
                Assert.IsTrue(after.DecoderWidthIndices[k] >= before.DecoderWidthIndices[k],
                    $"seed {seed} query {q}: task {k} width {before.DecoderWidthIndices[k]} -> {after.DecoderWidthIndices[k]}");
                checks++;
                if (after.DecoderWidthIndices[k] > before.DecoderWidthIndices[k]) raised++;
            }
        }
        Assert.AreEqual(400, checks);
        Assert.IsTrue(raised > 0, "the test should exercise width changes");
    }

    [TestMethod]
    public void BudgetBelowCheapestConfiguration_ThrowsWithSmallestFeasibleBudgetInTheSameUnit()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(3, 1);
        var search = new ConfigurationSearch(problem.Costs, problem.Calibration);
        long smallest = problem.Costs.SmallestMacs, full = problem.Costs.FullMacs;

        var ex = Assert.ThrowsExactly<BudgetInfeasibleException>(() => search.Search(Budget.Macs(smallest - 1), [1.0, 1, 1]));
        Assert.AreEqual(BudgetUnit.Macs, ex.SmallestFeasible.Unit);
        Assert.AreEqual(smallest, ex.SmallestFeasible.Value);
        StringAssert.Contains(ex.Message, smallest.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.AreEqual(smallest, search.Search(ex.SmallestFeasible, [1.0, 1, 1]).Macs); // the stated budget works

        var ex2 = Assert.ThrowsExactly<BudgetInfeasibleException>(() => search.Search(Budget.FractionOfFull(0.5 * smallest / full), [1.0, 1, 1]));
        Assert.AreEqual(BudgetUnit.FractionOfFullMacs, ex2.SmallestFeasible.Unit);
        Assert.AreEqual((double)smallest / full, ex2.SmallestFeasible.Value, 1e-12);
        StringAssert.Contains(ex2.Message, "of full MACs");
        Assert.AreEqual(smallest, search.Search(ex2.SmallestFeasible, [1.0, 1, 1]).Macs);
        Assert.AreEqual(ex2.SmallestFeasible, search.SmallestFeasibleBudget(BudgetUnit.FractionOfFullMacs));
        Assert.IsInstanceOfType<ArgumentException>(ex2);
    }

    /// <summary>Brute force of both stages over every configuration, with the documented tie-breaking.</summary>
    private static (int E, int[] D, double Objective) BruteForce(CostTable costs, ConfigurationSearch s, double capacity, double[] p)
    {
        int tCount = costs.TaskCount, w = costs.Widths.Count, n = (int)Math.Pow(w, tCount);
        var d = new int[tCount];
        // Stage 1: best equal-weight mean per encoder option, ties to the larger encoder.
        int bestE = -1;
        double bestV = double.NegativeInfinity;
        foreach (int e in Enumerable.Range(0, costs.EncoderOptionCount).OrderBy(e => costs.EncoderMacs(e)))
        {
            double v = double.NegativeInfinity;
            for (int k = 0; k < n; k++)
            {
                for (int t = 0, kk = k; t < tCount; t++, kk /= w) d[t] = kk % w;
                if (costs.Macs(costs.Configuration(e, d)) > capacity) continue;
                v = Math.Max(v, Enumerable.Range(0, tCount).Average(t => s.Calibration.Relative(t, e, d[t])));
            }
            if (v >= bestV - 1e-12) { bestV = Math.Max(v, bestV); bestE = e; }
        }
        double bestObj = double.NegativeInfinity;
        int[] bestD = [];
        for (int k = 0; k < n; k++)
        {
            for (int t = 0, kk = k; t < tCount; t++, kk /= w) d[t] = kk % w;
            if (costs.Macs(costs.Configuration(bestE, d)) > capacity) continue;
            double obj = 0;
            for (int t = 0; t < tCount; t++) obj += p[t] * s.EnvelopeRelative(t, bestE, d[t]);
            if (obj > bestObj) { bestObj = obj; bestD = (int[])d.Clone(); }
        }
        return (bestE, bestD, bestObj);
    }

    private static double Objective(ConfigurationSearch s, SearchResult r, double[] p) =>
        Enumerable.Range(0, p.Length).Sum(t => p[t] * s.EnvelopeRelative(t, r.EncoderOption, r.DecoderWidthIndices[t]));

    [TestMethod]
    public void FiveTasks_MatchesBruteForce_ForBothStages()
    {
        var (costs, cal) = ControlTestTables.Random(5, 42);
        var search = new ConfigurationSearch(costs, cal);
        Assert.IsTrue(search.UsesEnumeration);
        var rng = new Random(5);
        for (int q = 0; q < 25; q++)
        {
            Budget b = RandomFraction(rng, costs);
            double[] p = TaskPreferences.Normalize(Dirichlet.Sample(rng, 5, 0.3), 5);
            SearchResult r = search.Search(b, p);
            var (e, _, obj) = BruteForce(costs, search, b.Value * costs.FullMacs, p);
            Assert.AreEqual(e, r.EncoderOption, $"query {q}: stage-1 encoder");
            Assert.AreEqual(obj, Objective(search, r, p), 1e-12, $"query {q}: stage-2 optimum");
        }
    }

    [TestMethod]
    public void FiveTasks_GridDp_IsFeasibleAndWithinTheRoundingBoundOfTheOptimum()
    {
        var (costs, cal) = ControlTestTables.Random(5, 43);
        var exact = new ConfigurationSearch(costs, cal);
        var dp = new ConfigurationSearch(costs, cal, options: new SearchOptions { EnumerationLimit = 0, GridCells = 2048 });
        Assert.IsFalse(dp.UsesEnumeration);
        var rng = new Random(6);
        int equal = 0;
        for (int q = 0; q < 25; q++)
        {
            Budget b = RandomFraction(rng, costs);
            double[] p = TaskPreferences.Normalize(Dirichlet.Sample(rng, 5, 0.3), 5);
            SearchResult re = exact.Search(b, p), rd = dp.Search(b, p);
            Assert.IsTrue(rd.Macs <= b.Value * costs.FullMacs);
            if (rd.EncoderOption != re.EncoderOption) continue; // stage-1 grid may pick another encoder at near-ties
            double oe = Objective(exact, re, p), od = Objective(dp, rd, p);
            Assert.IsTrue(od <= oe + 1e-12, "the DP cannot beat the exact optimum");
            // Rounded-up costs lose at most T grid cells of capacity: od >= optimum at capacity - T * step.
            double cap = Math.Floor(b.Value * costs.FullMacs);
            double minTotal = costs.EncoderMacs(rd.EncoderOption) + Enumerable.Range(0, 5).Sum(t => Enumerable.Range(0, 4).Min(d => costs.DecoderMacs(t, rd.EncoderOption, d)));
            double step = (cap - minTotal) / 2048;
            var tightened = exact.Search(Budget.Macs(Math.Max(Smallest(costs), cap - 5 * step - 1)), p);
            if (tightened.EncoderOption == rd.EncoderOption) Assert.IsTrue(od >= Objective(exact, tightened, p) - 1e-12);
            if (Math.Abs(od - oe) < 1e-12) equal++;
        }
        Assert.IsTrue(equal >= 20, $"the DP should reach the exact optimum in most cases; got {equal} of 25");
    }

    [TestMethod]
    public void TwentyTasks_AnswersWithinBudget_AndGivesThePreferredTaskMoreDecoder()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(20, 3);
        var search = new ConfigurationSearch(problem.Costs, problem.Calibration);
        Assert.IsFalse(search.UsesEnumeration);
        var p = new double[20];
        Array.Fill(p, 0.01);
        p[7] = 1;
        SearchResult r = search.Search(Budget.FractionOfFull(0.5), p);
        Assert.IsTrue(r.FractionOfFullMacs <= 0.5);
        Assert.IsTrue(r.FractionOfFullMacs > 0.4, $"utilisation {r.FractionOfFullMacs}");
        Assert.AreEqual(3, r.DecoderWidthIndices[7], "the dominant task should get the widest decoder at half the budget");
        Assert.IsTrue(r.DecoderWidthIndices.Average() < 3);
    }

    [TestMethod]
    public void Preferences_AreValidated()
    {
        var (costs, cal) = ControlTestTables.Random(3, 1);
        var search = new ConfigurationSearch(costs, cal);
        var ex = Assert.ThrowsExactly<ArgumentException>(() => search.Search(Budget.Full, new Dictionary<string, double> { ["nope"] = 1 }));
        StringAssert.Contains(ex.Message, "nope");
        StringAssert.Contains(ex.Message, "t0, t1, t2");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => search.Search(Budget.Full, new Dictionary<string, double> { ["t0"] = -1 }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => search.Search(Budget.Full, [double.NaN, 1, 1]));
        // One convention (docs/control.md): bad values are ArgumentOutOfRangeException, bad shapes ArgumentException.
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => search.Search(Budget.Full, [0.0, 0, 0]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => search.Search(Budget.Full, [double.PositiveInfinity, 1, 1]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => search.Search(Budget.Full, new Dictionary<string, double> { ["t0"] = 0 }));
        Assert.ThrowsExactly<ArgumentException>(() => search.Search(Budget.Full, [1.0, 1]));
        Assert.IsNull(TaskPreferences.Problem([0.0, 2]));
        StringAssert.Contains(TaskPreferences.Problem([1.0, -2])!, "task 1 is -2");
        // Missing tasks get 0; normalisation to sum 1.
        CollectionAssert.AreEqual(new[] { 0.0, 0.25, 0.75 }, TaskPreferences.Normalize(new Dictionary<string, double> { ["t1"] = 1, ["t2"] = 3 }, costs.TaskNames));
        SearchResult r = search.Search(Budget.FractionOfFull(0.6), new Dictionary<string, double> { ["t1"] = 2 });
        CollectionAssert.AreEqual(new[] { 0.0, 1.0, 0.0 }, r.Preferences.ToArray());
    }

    [TestMethod]
    public void Search_IsDeterministic_AndFullBudgetGivesFullConfiguration()
    {
        var (costs, cal) = ControlTestTables.Random(4, 9);
        var a = new ConfigurationSearch(costs, cal);
        var b = new ConfigurationSearch(costs, cal);
        double[] p = [0.1, 0.2, 0.3, 0.4];
        Assert.AreEqual(a.Search(Budget.FractionOfFull(0.55), p).Configuration, b.Search(Budget.FractionOfFull(0.55), p).Configuration);
        Assert.AreEqual(WidthConfiguration.Uniform(1.0, 4), a.Search(Budget.Full, [1.0, 0, 0, 0]).Configuration);
    }

    [TestMethod]
    public void MillisecondBudgets_UseTheLatencyTable()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(3, 2);
        CostTable c = problem.Costs;
        LatencyTable lat = LatencyTable.Measure(c, e => c.EncoderMacs(e) / 1e6, (t, e, d) => c.DecoderMacs(t, e, d) / 1e6 + 0.01);
        Assert.ThrowsExactly<InvalidOperationException>(() => new ConfigurationSearch(c, problem.Calibration).Search(Budget.Milliseconds(3), [1.0, 1, 1]));
        var search = new ConfigurationSearch(c, problem.Calibration, lat);
        var rng = new Random(3);
        double min = search.SmallestFeasibleBudget(BudgetUnit.Milliseconds).Value, max = lat.PredictMs(WidthConfiguration.Uniform(1, 3));
        for (int i = 0; i < 200; i++)
        {
            Budget b = Budget.Milliseconds(min + (max - min) * rng.NextDouble());
            SearchResult r = search.Search(b, Dirichlet.Sample(rng, 3, 0.2));
            Assert.IsTrue(lat.PredictMs(r.Configuration) <= b.Value);
            Assert.AreEqual(lat.PredictMs(r.Configuration), r.LatencyMs!.Value, 1e-12);
            Assert.AreEqual(r.Cost, r.LatencyMs!.Value, 1e-12);
        }
        var ex = Assert.ThrowsExactly<BudgetInfeasibleException>(() => search.Search(Budget.Milliseconds(min * 0.9), [1.0, 1, 1]));
        Assert.AreEqual(BudgetUnit.Milliseconds, ex.SmallestFeasible.Unit);
        Assert.AreEqual(min, ex.SmallestFeasible.Value, 1e-12);
    }

    [TestMethod]
    public void EqualWidthBaseline_IgnoresPreferences_UsesOneWidth_AndStaysWithinBudget()
    {
        var (costs, cal) = ControlTestTables.Random(4, 12);
        var baseline = new EqualWidthController(costs, cal);
        var rng = new Random(1);
        for (int i = 0; i < 200; i++)
        {
            Budget b = RandomFraction(rng, costs);
            SearchResult r1 = baseline.Search(b, Dirichlet.Sample(rng, 4, 0.2)), r2 = baseline.Search(b, [1.0, 1, 1, 1]);
            Assert.AreEqual(r1.Configuration, r2.Configuration);
            Assert.AreEqual(1, r1.DecoderWidthIndices.Distinct().Count());
            Assert.IsTrue(costs.Macs(r1.Configuration) <= b.Value * costs.FullMacs);
            // Brute force over (e, d).
            double best = double.NegativeInfinity;
            for (int e = 0; e < 3; e++)
                for (int d = 0; d < 4; d++)
                {
                    int[] ds = [d, d, d, d];
                    if (costs.Macs(costs.Configuration(e, ds)) <= b.Value * costs.FullMacs) best = Math.Max(best, cal.Relative(e, ds).Average());
                }
            Assert.AreEqual(best, r1.PredictedRelativePerformance.Average(), 1e-12);
        }
    }
}
