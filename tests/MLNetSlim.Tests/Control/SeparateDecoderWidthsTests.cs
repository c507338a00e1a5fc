using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Fixtures;
using static MLNetSlim.Tests.Control.ControlConfigurationSearchTests;

namespace MLNetSlim.Tests.Control;

/// <summary>A decoder width set finer than the encoder's (issue 12): the cost table, calibration and the search keep
/// their guarantees (never over budget, monotone in a task's preference, infeasible budgets name the smallest feasible
/// one, stage 1 and 2 equal to brute force).</summary>
[TestClass]
public class SeparateDecoderWidthsTests
{
    private static WidthSet Steps(int n) => new(Enumerable.Range(0, n + 1).Select(i => 0.25 + 0.75 * i / n).ToArray());

    [TestMethod]
    public void CostTable_KeepsTwoWidthSets_AndValidatesEachPartAgainstItsOwn()
    {
        WidthSet fine = Steps(12); // 0.25, 0.3125, .., 1
        SyntheticControlProblem problem = SyntheticControlProblem.Create(2, 3, decoderWidths: fine);
        CostTable c = problem.Costs;
        Assert.AreEqual(WidthSet.Default, c.EncoderWidths);
        Assert.AreEqual(fine, c.DecoderWidths);
        Assert.AreEqual(4, c.EncoderOptionCount);

        ResolvedConfiguration r = c.Resolve(WidthConfiguration.Parse("enc=0.5 dec=0.3125,1"));
        Assert.AreEqual(1, r.EncoderOption);
        CollectionAssert.AreEqual(new[] { 1, 12 }, r.DecoderWidthIndices.ToArray());
        Assert.AreEqual(c.EncoderMacs(1) + c.DecoderMacs(0, 1, 1) + c.DecoderMacs(1, 1, 12), r.Macs);
        Assert.AreEqual("enc=0.5 dec=0.3125,1", c.At(1, [1, 12]).ToString());

        var encoder = Assert.ThrowsExactly<ArgumentException>(() => c.Resolve(WidthConfiguration.Parse("enc=0.3125 dec=1,1")));
        StringAssert.Contains(encoder.Message, "Encoder width 0.3125 (stage 0) is not in the encoder width set {0.25, 0.5, 0.75, 1}");
        var decoder = Assert.ThrowsExactly<ArgumentException>(() => c.Resolve(WidthConfiguration.Parse("enc=1 dec=0.3,1")));
        StringAssert.Contains(decoder.Message, "Decoder width 0.3 of task 0 is not in the decoder width set {0.25, 0.3125");

        Assert.AreEqual("enc=1 dec=1,1", c.Full.ToString());
        Assert.AreEqual("enc=0.25 dec=0.25,0.25", c.Smallest.ToString());
        Assert.AreEqual(Smallest(c), c.SmallestMacs);
        Assert.AreEqual(4L * 13, CalibrationTable.PassCount(c), "per-factor calibration: #encoder options x #decoder widths passes");
    }

    [TestMethod]
    public void CalibrationTable_RoundTripsTheDecoderWidthSet_AndRejectsATableOfAnotherSet()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(2, 4, decoderWidths: Steps(24));
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) problem.Calibration.Write(w);
        ms.Position = 0;
        CalibrationTable read = CalibrationTable.Read(new BinaryReader(ms));
        Assert.AreEqual(Steps(24), read.DecoderWidths);
        Assert.AreEqual(25, read.WidthCount);
        read.EnsureMatches(problem.Costs);

        SyntheticControlProblem coarse = SyntheticControlProblem.Create(2, 4);
        var e = Assert.ThrowsExactly<ArgumentException>(() => coarse.Calibration.EnsureMatches(problem.Costs));
        StringAssert.Contains(e.Message, "Calibration decoder width set {0.25, 0.5, 0.75, 1} differs from the network's {0.25, 0.28125");
    }

    [TestMethod]
    [DataRow(2, 24, true)]   // 25 decoder widths, 2 tasks: enumeration (625 per encoder option)
    [DataRow(20, 12, false)] // 13 decoder widths, 20 tasks: grid DP
    public void RandomQueries_AreAllWithinBudget(int tasks, int steps, bool enumeration)
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(tasks, 7, noise: 0.02, decoderWidths: Steps(steps));
        var search = new ConfigurationSearch(problem.Costs, problem.Calibration);
        Assert.AreEqual(enumeration, search.UsesEnumeration);
        var rng = new Random(12);
        long full = problem.Costs.FullMacs;
        for (int i = 0; i < 500; i++)
        {
            Budget b = RandomFraction(rng, problem.Costs);
            SearchResult r = search.Search(b, Dirichlet.Sample(rng, tasks, 0.2));
            long macs = problem.Costs.Macs(r.Configuration); // independent recomputation from the multipliers
            Assert.AreEqual(macs, r.Macs);
            Assert.IsTrue((double)macs / full <= b.Value && macs <= b.Value * full, $"{macs}/{full} > {b.Value}");
        }
    }

    [TestMethod]
    [DataRow(3, 4096)] // enumeration (7^3 = 343)
    [DataRow(3, 0)]    // grid DP forced
    public void RaisingOnePreference_NeverLowersThatTasksDecoderWidth(int tasks, int enumerationLimit)
    {
        int raised = 0;
        for (int seed = 0; seed < 8; seed++)
        {
            var (costs, cal) = ControlTestTables.Random(tasks, 300 + seed, Steps(6));
            Assert.AreEqual(7, costs.DecoderWidths.Count);
            var search = new ConfigurationSearch(costs, cal, options: new SearchOptions { EnumerationLimit = enumerationLimit });
            raised += RaiseOnePreferencePerQuery(search, costs, tasks, seed).Raised;
        }
        Assert.IsTrue(raised > 0, "the test should exercise width changes");
    }

    [TestMethod]
    public void ThreeTasks_MatchBruteForce_ForBothStages()
    {
        var (costs, cal) = ControlTestTables.Random(3, 77, Steps(6));
        var search = new ConfigurationSearch(costs, cal);
        Assert.IsTrue(search.UsesEnumeration);
        var rng = new Random(8);
        for (int q = 0; q < 25; q++)
        {
            Budget b = RandomFraction(rng, costs);
            double[] p = TaskPreferences.Normalize(Dirichlet.Sample(rng, 3, 0.3), 3);
            SearchResult r = search.Search(b, p);
            var (e, _, obj) = BruteForce(costs, search, b.Value * costs.FullMacs, p);
            Assert.AreEqual(e, r.EncoderOption, $"query {q}: stage-1 encoder");
            Assert.AreEqual(obj, Objective(search, r, p), 1e-12, $"query {q}: stage-2 optimum");
        }
    }

    [TestMethod]
    public void BudgetBelowTheSmallestConfiguration_NamesTheSmallestFeasibleBudget()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(2, 5, decoderWidths: Steps(24));
        var search = new ConfigurationSearch(problem.Costs, problem.Calibration);
        long smallest = problem.Costs.SmallestMacs;
        var ex = Assert.ThrowsExactly<BudgetInfeasibleException>(() => search.Search(Budget.Macs(smallest - 1), [1.0, 1.0]));
        Assert.AreEqual(smallest, ex.SmallestFeasible.Value);
        Assert.AreEqual(smallest, search.Search(ex.SmallestFeasible, [1.0, 1.0]).Macs);
    }

    [TestMethod]
    public void AFinerDecoderSet_GivesMoreDistinctTradeOffsPerBudget()
    {
        // The point of the finer set: over a preference sweep at a fixed budget the search reaches more configurations.
        double[] budgets = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
        int[] Distinct(WidthSet? decoderWidths)
        {
            SyntheticControlProblem problem = SyntheticControlProblem.Create(2, 9, decoderWidths: decoderWidths);
            var search = new ConfigurationSearch(problem.Costs, problem.Calibration);
            return budgets.Select(b => Enumerable.Range(0, 101)
                .Select(i => search.Search(Budget.FractionOfFull(b), [i / 100.0, 1 - i / 100.0]).Selected).Distinct().Count()).ToArray();
        }
        int[] coarse = Distinct(null), fine = Distinct(Steps(24));
        string counts = $"distinct configurations per budget [{string.Join(", ", budgets)}]: 4 decoder widths [{string.Join(", ", coarse)}], 25 [{string.Join(", ", fine)}]";
        Assert.IsTrue(fine.Sum() > coarse.Sum() && fine.Max() >= 6, counts);
    }
}
