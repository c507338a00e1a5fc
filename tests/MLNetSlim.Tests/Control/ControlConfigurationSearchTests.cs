using MLNetSlim.Control;
using MLNetSlim.Architecture;
using MLNetSlim.Fixtures;

namespace MLNetSlim.Tests.Control;

[TestClass]
public class ControlConfigurationSearchTests
{
    /// <summary>Cheapest configuration's MACs (CostTable.SmallestMacs assumes the smallest width is an encoder option).</summary>
    internal static long Smallest(CostTable c) => Enumerable.Range(0, c.EncoderOptionCount)
        .Min(e => c.EncoderMacs(e) + Enumerable.Range(0, c.TaskCount).Sum(t => Enumerable.Range(0, c.DecoderWidths.Count).Min(d => c.DecoderMacs(t, e, d))));

    /// <summary>
    /// 40 random queries (budget fraction, Dirichlet(0.5) preferences) with one task's preference then raised: asserts
    /// that stage 1 keeps its encoder and the raised task's decoder never narrows. Returns the queries checked and how
    /// many of them widened that decoder.
    /// </summary>
    internal static (int Checks, int Raised) RaiseOnePreferencePerQuery(ConfigurationSearch search, CostTable costs, int tasks, int seed)
    {
        int checks = 0, raised = 0;
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
        return (checks, raised);
    }

    internal static Budget RandomFraction(Random rng, CostTable costs)
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
            (int c, int r) = RaiseOnePreferencePerQuery(search, costs, tasks, seed);
            checks += c;
            raised += r;
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
    internal static (int E, int[] D, double Objective) BruteForce(CostTable costs, ConfigurationSearch s, double capacity, double[] p)
    {
        int tCount = costs.TaskCount, w = costs.DecoderWidths.Count, n = (int)Math.Pow(w, tCount);
        var d = new int[tCount];
        // Stage 1: best equal-weight mean per encoder option; candidates within the tolerance of the best; of them,
        // lexicographically: preferences can act (some decoder can widen, or all fit at their widest), larger mean,
        // larger encoder.
        double tolerance = new SearchOptions().EncoderTolerance;
        var values = new Dictionary<int, double>();
        foreach (int e in Enumerable.Range(0, costs.EncoderOptionCount))
        {
            double v = double.NegativeInfinity;
            for (int k = 0; k < n; k++)
            {
                for (int t = 0, kk = k; t < tCount; t++, kk /= w) d[t] = kk % w;
                if (costs.Macs(costs.Configuration(e, d)) > capacity) continue;
                v = Math.Max(v, Enumerable.Range(0, tCount).Average(t => s.Calibration.Relative(t, e, d[t])));
            }
            values[e] = v;
        }
        double bestV = values.Values.Max();
        bool CanAct(int e)
        {
            bool allWidest = costs.Macs(costs.Configuration(e, Enumerable.Repeat(w - 1, tCount).ToArray())) <= capacity;
            bool oneWider = Enumerable.Range(0, tCount).Any(t =>
            {
                var one = new int[tCount];
                one[t] = 1;
                return costs.Macs(costs.Configuration(e, one)) <= capacity;
            });
            return allWidest || oneWider;
        }
        int bestE = values.Keys.Where(e => values[e] >= bestV - tolerance - 1e-12)
            .OrderByDescending(CanAct).ThenByDescending(e => Math.Round(values[e], 11)).ThenByDescending(e => costs.EncoderMacs(e)).First();
        double bestObj = double.NegativeInfinity;
        int[] bestD = [];
        for (int k = 0; k < n; k++)
        {
            for (int t = 0, kk = k; t < tCount; t++, kk /= w) d[t] = kk % w;
            if (costs.Macs(costs.Configuration(bestE, d)) > capacity) continue;
            double obj = 0;
            for (int t = 0; t < tCount; t++) obj += p[t] * s.DecoderGain(t, bestE, d[t]);
            if (obj > bestObj) { bestObj = obj; bestD = (int[])d.Clone(); }
        }
        return (bestE, bestD, bestObj);
    }

    internal static double Objective(ConfigurationSearch s, SearchResult r, double[] p) =>
        Enumerable.Range(0, p.Length).Sum(t => p[t] * s.DecoderGain(t, r.EncoderOption, r.DecoderWidthIndices[t]));

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

    /// <summary>Two tasks, encoder options {0.5, 1}: at a capacity of 5250 MACs the full encoder is best by equal
    /// weights (1.0) but leaves no decoder room to widen; the half encoder is 0.0035 behind (0.9965) and lets the
    /// decoders trade.</summary>
    private static (CostTable Costs, CalibrationTable Calibration) StuckEncoderTable()
    {
        WidthSet widths = WidthSet.Default;
        string[] names = ["a", "b"];
        long[][] perEncoder = [[100, 250, 400, 550], [100, 300, 500, 700]];
        var costs = new CostTable(widths, names, [[0.5], [1.0]], [4200, 5000], [perEncoder, perEncoder]);
        double[][] metric = [[0.993, 0.995, 0.996, 0.997], [1.0, 1.0, 1.0, 1.0]];
        return (costs, new CalibrationTable(names, [true, true], widths, [metric, metric], 1));
    }

    [TestMethod]
    public void StageOne_LeavesPreferencesRoom_WithinTheTolerance()
    {
        var (costs, cal) = StuckEncoderTable();
        Budget budget = Budget.Macs(5250);

        // Tolerance 0 (the old rule): the full encoder, and every preference gets the same configuration.
        var strict = new ConfigurationSearch(costs, cal, options: new SearchOptions { EncoderTolerance = 0 });
        Assert.AreEqual(1, strict.SelectEncoder(budget));
        Assert.AreEqual(1, new[] { new[] { 1.0, 0 }, [0.0, 1], [0.5, 0.5] }
            .Select(p => strict.Search(budget, p).Configuration).Distinct().Count());

        // The default tolerance (0.005) admits the half encoder (0.0035 behind), which lets preferences act.
        var search = new ConfigurationSearch(costs, cal);
        Assert.AreEqual(0.005, new SearchOptions().EncoderTolerance);
        Assert.AreEqual(0, search.SelectEncoder(budget));
        SearchResult first = search.Search(budget, [1.0, 0]), second = search.Search(budget, [0.0, 1]);
        CollectionAssert.AreEqual(new[] { 3, 2 }, first.DecoderWidthIndices.ToArray());
        CollectionAssert.AreEqual(new[] { 2, 3 }, second.DecoderWidthIndices.ToArray());
        Assert.IsTrue(first.Macs <= 5250 && second.Macs <= 5250);

        // A tolerance below the gap keeps the full encoder.
        Assert.AreEqual(1, new ConfigurationSearch(costs, cal, options: new SearchOptions { EncoderTolerance = 0.003 }).SelectEncoder(budget));
        // Where the full encoder has room, it stays the choice (the tolerance only breaks a stuck encoder).
        Assert.AreEqual(1, search.SelectEncoder(Budget.Macs(5500)));
        // Everything fits at the full encoder: nothing to trade, so it is kept (full budget -> full configuration).
        Assert.AreEqual(costs.FullMacs, search.Search(Budget.FractionOfFull(1), [0.5, 0.5]).Macs);
    }

    [TestMethod]
    public void NormalizedGains_GiveThePreferredTaskTheWiderDecoder_WhereRawGainsWouldNot()
    {
        WidthSet widths = WidthSet.Default;
        string[] names = ["small-gain", "large-gain"];
        long[][] dec = [[100, 200, 300, 400]];
        var costs = new CostTable(widths, names, [[1.0]], [1000], [dec, dec]);
        double[][][] metric = [[[0.990, 0.995, 0.997, 1.0]], [[0.95, 0.99, 0.995, 1.0]]];
        var cal = new CalibrationTable(names, [true, true], widths, metric, 0);
        Budget budget = Budget.Macs(1300); // one decoder can take one step
        double[] p = [0.7, 0.3];

        // Normalised (default): gains 0.5 vs 0.8 of each task's range, weighted 0.35 vs 0.24: the preferred task widens.
        SearchResult normalized = new ConfigurationSearch(costs, cal).Search(budget, p);
        CollectionAssert.AreEqual(new[] { 1, 0 }, normalized.DecoderWidthIndices.ToArray());
        // Raw relative performance: 0.7 x 0.005 < 0.3 x 0.04, so the less preferred task gets the budget.
        SearchResult raw = new ConfigurationSearch(costs, cal, options: new SearchOptions { NormalizeDecoderGains = false }).Search(budget, p);
        CollectionAssert.AreEqual(new[] { 0, 1 }, raw.DecoderWidthIndices.ToArray());
    }

    [TestMethod]
    public void EncoderTolerance_IsValidated()
    {
        var (costs, cal) = StuckEncoderTable();
        foreach (double bad in new[] { -0.001, 0.2, double.NaN, double.PositiveInfinity })
        {
            var ex = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ConfigurationSearch(costs, cal, options: new SearchOptions { EncoderTolerance = bad }));
            Assert.AreEqual(nameof(SearchOptions.EncoderTolerance), ex.ParamName);
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
