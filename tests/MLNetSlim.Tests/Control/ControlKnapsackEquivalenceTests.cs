using MLNetSlim.Control;
using MLNetSlim.Architecture;
using MLNetSlim.Fixtures;

namespace MLNetSlim.Tests.Control;

/// <summary>
/// The grid knapsack DP of <see cref="ConfigurationSearch"/> (vectorised, reachable prefix only; issue 12) against the
/// plain loop it replaced, kept here verbatim as the reference: every row value, every choice and every search answer
/// must be bit-identical, ties included.
/// </summary>
[TestClass]
public class ControlKnapsackEquivalenceTests
{
    /// <summary>The DP before issue 12's speed-up: in place, q descending, widths ascending, delegates per width.</summary>
    private static void ReferenceKnapsack(int tasks, int widths, int[] rounded, Func<int, int, double> value, Func<int, int, double>? secondary,
        int cells, double[] prim, double[] sec, ushort[]? choice)
    {
        Array.Clear(prim, 0, cells);
        Array.Clear(sec, 0, cells);
        var v = new double[widths];
        var s = new double[widths];
        var r = new int[widths];
        for (int t = 0; t < tasks; t++)
        {
            for (int d = 0; d < widths; d++) { v[d] = value(t, d); s[d] = secondary?.Invoke(t, d) ?? 0; r[d] = rounded[t * widths + d]; }
            for (int q = cells - 1; q >= 0; q--)
            {
                double bp = double.NegativeInfinity, bs = double.NegativeInfinity;
                int bd = 0;
                for (int d = 0; d < widths; d++)
                {
                    int rq = q - r[d];
                    if (rq < 0) continue;
                    double a = prim[rq] + v[d];
                    if (a > bp) { bp = a; bs = sec[rq] + s[d]; bd = d; }
                    else if (a == bp)
                    {
                        double b = sec[rq] + s[d];
                        if (b > bs) { bs = b; bd = d; }
                    }
                }
                prim[q] = bp;
                sec[q] = bs;
                if (choice is not null) choice[t * cells + q] = (ushort)bd;
            }
        }
    }

    /// <summary>The search's rounding of the decoders' excess costs up to the grid (unchanged by issue 12).</summary>
    private static int[] ReferenceRound(CostModel m, int e, double step, int cells)
    {
        var rounded = new int[m.T * m.W];
        for (int t = 0; t < m.T; t++)
            for (int d = 0; d < m.W; d++)
            {
                double x = m.Excess[e][t][d];
                rounded[t * m.W + d] = x <= 0 ? 0 : !(step > 0) ? cells : (int)Math.Min(cells, Math.Ceiling(x / step * (1 + 1e-12)));
            }
        return rounded;
    }

    /// <summary>The stage-1 table of encoder e as the search built it before issue 12.</summary>
    private static double[] ReferenceStage1(CostModel m, int e, int stage1Cells, double[][][] raw)
    {
        int cells = stage1Cells + 1;
        int[] rounded = ReferenceRound(m, e, m.MaxExcessSum[e] / stage1Cells, cells);
        var prim = new double[cells];
        ReferenceKnapsack(m.T, m.W, rounded, (t, d) => raw[e][t][d] / m.T, null, cells, prim, new double[cells], null);
        return prim;
    }

    /// <summary>Stage 2 at encoder e as the search solved it before issue 12 (grid DP branch).</summary>
    private static int[] ReferenceDecoders(CostModel m, double[][][] f, int e, double capacity, double[] p, int gridCells)
    {
        int tCount = m.T, wCount = m.W;
        var result = new int[tCount];
        double slack = capacity - m.MinTotal[e];
        if (slack >= m.MaxExcessSum[e])
        {
            Array.Fill(result, wCount - 1);
            return result;
        }
        int cells = gridCells + 1;
        int[] rounded = ReferenceRound(m, e, slack / gridCells, cells);
        var choice = new ushort[cells * tCount];
        ReferenceKnapsack(tCount, wCount, rounded, (t, d) => p[t] * f[e][t][d], (t, d) => f[e][t][d], cells, new double[cells], new double[cells], choice);
        int q = gridCells;
        for (int t = tCount - 1; t >= 0; t--)
        {
            int d = choice[t * cells + q];
            result[t] = d;
            q -= rounded[t * wCount + d];
        }
        return result;
    }

    private static WidthSet Steps(double from, int step, int count) => new(Enumerable.Range(0, count).Select(i => from + (double)i / step).ToArray());

    private static void AssertBitEqual(IReadOnlyList<double> expected, IReadOnlyList<double> actual, string what)
    {
        Assert.HasCount(expected.Count, actual, what);
        for (int i = 0; i < expected.Count; i++)
            if (BitConverter.DoubleToInt64Bits(expected[i]) != BitConverter.DoubleToInt64Bits(actual[i]))
                Assert.Fail($"{what}: cell {i}: expected {expected[i]:R}, got {actual[i]:R}");
    }

    /// <summary>
    /// Random grids far from the search's own (1 to 8 tasks, 1 to 12 widths, 16 to 300 cells, costs up to the whole grid
    /// and NOT increasing in the width, the zero-cost width anywhere, values and secondaries from a few levels so that
    /// exact ties are common): the last row bit for bit, and every (task, cell) choice, equal the reference's.
    /// </summary>
    [TestMethod]
    public void Knapsack_EqualsReferenceLoop_RowsAndChoices_OnRandomGridsWithTies()
    {
        var rng = new Random(20261202);
        var sc = new ConfigurationSearch.Scratch();
        for (int problem = 0; problem < 400; problem++)
        {
            int tasks = 1 + rng.Next(8), widths = 1 + rng.Next(12), cells = 16 + rng.Next(285);
            var rounded = new int[tasks * widths];
            var value = new double[tasks * widths];
            var second = new double[tasks * widths];
            for (int t = 0; t < tasks; t++)
            {
                int zero = rng.Next(widths);
                for (int d = 0; d < widths; d++)
                {
                    rounded[t * widths + d] = d == zero ? 0 : rng.Next(4) == 0 ? rng.Next(cells + 1) : rng.Next(1 + cells / (2 * tasks));
                    value[t * widths + d] = rng.Next(3) == 0 ? 0 : 0.25 * rng.Next(5);
                    second[t * widths + d] = problem % 4 == 0 ? 0 : 0.5 * rng.Next(4);
                }
            }
            var refPrim = new double[cells];
            var refSec = new double[cells];
            var refChoice = new ushort[tasks * cells];
            ReferenceKnapsack(tasks, widths, rounded, (t, d) => value[t * widths + d], (t, d) => second[t * widths + d], cells, refPrim, refSec, refChoice);

            sc.Ensure(cells, tasks, widths, choice: true);
            rounded.CopyTo(sc.Rounded, 0);
            value.CopyTo(sc.Value, 0);
            second.CopyTo(sc.Secondary, 0);
            double[] prim = ConfigurationSearch.Knapsack(sc, tasks, widths, cells, choice: true).ToArray();
            AssertBitEqual(refPrim, prim, $"problem {problem} ({tasks} tasks, {widths} widths, {cells} cells) last row");
            for (int t = 0; t < tasks; t++)
                for (int q = 0; q < cells; q++)
                    Assert.AreEqual(refChoice[t * cells + q], sc.Choice[t * cells + Math.Min(q, sc.Limit[t])],
                        $"problem {problem}: choice of task {t} at cell {q} (limit {sc.Limit[t]})");
        }
    }

    /// <summary>
    /// Seeded random networks of 20 tasks x 29 decoder widths and 5 tasks x 13 (both solved by the grid DP): the stage-1
    /// tables equal the reference bit for bit, and every query (random budgets, Dirichlet(0.2) preferences, and one-hot
    /// preferences whose zero weights make the primary objective tie) returns the reference's decoder widths at the
    /// chosen encoder.
    /// </summary>
    [TestMethod]
    [DataRow(20, 29, 6, 60)]
    [DataRow(5, 13, 12, 150)]
    public void Search_EqualsReferenceDp_OnSeededRandomProblems(int tasks, int widths, int problems, int queries)
    {
        WidthSet decoderWidths = widths == 29 ? Steps(0.125, 32, 29) : Steps(0.25, 16, 13);
        var options = new SearchOptions();
        for (int seed = 1; seed <= problems; seed++)
        {
            CostTable costs;
            CalibrationTable calibration;
            if (seed % 2 == 0) (costs, calibration) = ControlTestTables.Random(tasks, seed, decoderWidths);
            else
            {
                SyntheticControlProblem problem = SyntheticControlProblem.Create(tasks, seed, noise: 0.03, decoderWidths: decoderWidths);
                (costs, calibration) = (problem.Costs, problem.Calibration);
            }
            var search = new ConfigurationSearch(costs, calibration, options: options);
            Assert.IsFalse(search.UsesEnumeration);
            CheckProblem(search, new CostModel(costs, null), seed, queries, BudgetUnit.FractionOfFullMacs, options);
        }
    }

    /// <summary>
    /// Millisecond budgets over a random latency table whose decoder latencies are NOT increasing in the width (measured
    /// latencies need not be): stage-1 tables and answers equal the reference's, also with a coarse grid (64 cells).
    /// </summary>
    [TestMethod]
    [DataRow(2048)]
    [DataRow(64)]
    public void Search_EqualsReferenceDp_WithNonMonotoneLatencies(int gridCells)
    {
        var options = new SearchOptions { GridCells = gridCells, Stage1GridCells = 4 * gridCells };
        for (int seed = 1; seed <= 4; seed++)
        {
            (CostTable costs, CalibrationTable calibration) = ControlTestTables.Random(8, seed, Steps(0.25, 16, 13));
            var rng = new Random(seed);
            double[] enc = Enumerable.Range(0, costs.EncoderOptionCount).Select(e => 1 + e + rng.NextDouble()).ToArray();
            double[][][] dec = Enumerable.Range(0, costs.TaskCount).Select(_ => Enumerable.Range(0, costs.EncoderOptionCount)
                .Select(_ => Enumerable.Range(0, costs.DecoderWidths.Count).Select(_ => 0.1 + rng.NextDouble()).ToArray()).ToArray()).ToArray();
            var latency = new LatencyTable(costs, enc, dec, 0.5);
            var search = new ConfigurationSearch(costs, calibration, latency, options);
            Assert.IsFalse(search.UsesEnumeration);
            CheckProblem(search, new CostModel(costs, latency), seed, 100, BudgetUnit.Milliseconds, options);
        }
    }

    private static void CheckProblem(ConfigurationSearch search, CostModel model, int seed, int queries, BudgetUnit unit, SearchOptions options)
    {
        int tCount = model.T, eCount = model.E, wCount = model.W;
        var raw = new double[eCount][][];
        var f = new double[eCount][][];
        for (int e = 0; e < eCount; e++)
        {
            raw[e] = new double[tCount][];
            f[e] = new double[tCount][];
            for (int t = 0; t < tCount; t++)
            {
                raw[e][t] = Enumerable.Range(0, wCount).Select(d => search.Calibration.Relative(t, e, d)).ToArray();
                f[e][t] = Enumerable.Range(0, wCount).Select(d => search.DecoderGain(t, e, d)).ToArray();
            }
            AssertBitEqual(ReferenceStage1(model, e, options.Stage1GridCells, raw), search.Stage1Grid(e, unit == BudgetUnit.Milliseconds)!,
                $"seed {seed}: stage-1 table of encoder {e}");
        }
        var rng = new Random(1000 + seed);
        double smallest = model.Smallest, largest = Enumerable.Range(0, eCount).Max(e => model.MinTotal[e] + model.MaxExcessSum[e]);
        int dp = 0;
        for (int i = 0; i < queries; i++)
        {
            double[] prefs;
            if (i % 5 == 4)
            {
                prefs = new double[tCount]; // one-hot: the other tasks' zero weights tie the primary objective
                prefs[rng.Next(tCount)] = 1;
            }
            else prefs = Dirichlet.Sample(rng, tCount, 0.2);
            Budget budget = unit == BudgetUnit.Milliseconds
                ? Budget.Milliseconds(smallest + (largest - smallest) * rng.NextDouble())
                : Budget.FractionOfFull((smallest + 1 + (model.FullMacs - smallest - 1) * rng.NextDouble()) / model.FullMacs);
            SearchResult result = search.Search(budget, prefs);
            double capacity = model.Capacity(budget);
            int e = result.EncoderOption;
            if (capacity - model.MinTotal[e] < model.MaxExcessSum[e]) dp++;
            int[] expected = ReferenceDecoders(model, f, e, capacity, TaskPreferences.Normalize(prefs, tCount), options.GridCells);
            CollectionAssert.AreEqual(expected, result.DecoderWidthIndices.ToArray(), $"seed {seed} query {i}: decoder widths at encoder {e}");
        }
        Assert.IsGreaterThan(queries / 3, dp, $"seed {seed}: most queries should exercise the DP ({dp} of {queries})");
    }
}
