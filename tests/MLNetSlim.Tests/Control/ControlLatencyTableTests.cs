using MLNetSlim.Control;
using MLNetSlim.Architecture;
using MLNetSlim.Fixtures;

namespace MLNetSlim.Tests.Control;

[TestClass]
public class ControlLatencyTableTests
{
    [TestMethod]
    public void PerFactorSum_AgainstWholeConfigurationMeasurement()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(3, 4);
        CostTable c = problem.Costs;
        // Synthetic machine: 1 ms per 1e6 MACs, 0.05 ms per forward call (paid by each per-factor call and once by a
        // whole pass), and a small deterministic interaction of 2% of the decoder time (cache effects).
        double Enc(int e) => c.EncoderMacs(e) / 1e6 + 0.05;
        double Dec(int t, int e, int d) => c.DecoderMacs(t, e, d) / 1e6 + 0.05;
        double Whole(WidthConfiguration cfg)
        {
            int e = c.EncoderOptionOf(cfg);
            double dec = Enumerable.Range(0, 3).Sum(t => c.DecoderMacs(t, e, c.DecoderWidths.IndexOf(cfg.DecoderWidths[t])) / 1e6);
            return c.EncoderMacs(e) / 1e6 + 1.02 * dec + 0.05;
        }
        var all = new List<WidthConfiguration>();
        for (int e = 0; e < 4; e++)
            for (int k = 0; k < 64; k++) all.Add(c.Configuration(e, [k % 4, k / 4 % 4, k / 16]));

        LatencyTable plain = LatencyTable.Measure(c, Enc, Dec, repeats: 1);
        Assert.AreEqual(4 + 3 * 4 * 4, plain.MeasurementCalls);
        LatencyAdditivityReport plainErr = plain.CompareWithWholeConfiguration(Whole, all);
        // Plain sum counts 3 extra call overheads (0.15 ms) minus the 2% interaction.
        Assert.IsTrue(plainErr.MaxAbsoluteErrorMs > 0.1 && plainErr.MaxAbsoluteErrorMs < 0.16, $"{plainErr}");

        LatencyTable fitted = LatencyTable.Measure(c, Enc, Dec, Whole, repeats: 3);
        Assert.AreEqual(3 * (4 + 48 + 8), fitted.MeasurementCalls);
        Assert.IsTrue(fitted.OverheadMs < -0.1, $"overhead {fitted.OverheadMs}");
        LatencyAdditivityReport fittedErr = fitted.CompareWithWholeConfiguration(Whole, all);
        Assert.IsTrue(fittedErr.MaxAbsoluteErrorMs < plainErr.MaxAbsoluteErrorMs);
        Assert.IsTrue(fittedErr.MeanRelativeError < 0.02, $"{fittedErr}");
        Assert.AreEqual(64 * 4, fittedErr.Configurations);
    }

    [TestMethod]
    public void FittedOverhead_NeverMakesALatencyNegative_WhenTheWholeIsMuchFasterThanTheSumOfItsParts()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(2, 4);
        // Each factor costs 1 ms (encoder) or 1 ms (decoder) plus a 5 ms per-call overhead; a whole forward pass 0.5 ms.
        LatencyTable table = LatencyTable.Measure(problem.Costs, _ => 6.0, (_, _, _) => 6.0, _ => 0.5, repeats: 1);
        // Sum of parts is 18 ms for every configuration; the fitted offset (-17.5 ms) is clamped to -9 ms.
        Assert.AreEqual(-9.0, table.OverheadMs, 1e-12);
        Assert.AreEqual(9.0, table.PredictMs(problem.Costs.Configuration(0, [0, 0])), 1e-12);
    }

    [TestMethod]
    public void GetOrMeasure_MeasuresOncePerKey()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(2, 4);
        CostTable c = problem.Costs;
        int builds = 0;
        LatencyTable Build() { builds++; return LatencyTable.Measure(c, e => 1.0 + e, (t, e, d) => 0.1 * (d + 1)); }
        string key = "control-test-" + Guid.NewGuid();
        LatencyTable a = LatencyTable.GetOrMeasure(key, Build), b = LatencyTable.GetOrMeasure(key, Build);
        Assert.AreSame(a, b);
        Assert.AreEqual(1, builds);
        Assert.IsTrue(LatencyTable.Forget(key));
        LatencyTable.GetOrMeasure(key, Build);
        Assert.AreEqual(2, builds);
        LatencyTable.Forget(key);
    }
}
