using MLNetSlim.Architecture;
using MLNetSlim.Control;

namespace MLNetSlim.Tests.Control;

[TestClass]
public class DecoderGainCurveTests
{
    private static readonly long[] Macs = Enumerable.Range(1, 29).Select(k => 1000L * k * (k + 16)).ToArray();

    [TestMethod]
    public void SaturatingFit_RecoversACurveOfItsOwnForm()
    {
        double gamma = DecoderGainCurve.Exponents[40];
        double[] truth = Macs.Select(m => 0.99 - 0.02 * Math.Pow(m / (double)Macs[^1], -gamma)).ToArray();
        double[] fit = DecoderGainCurve.SaturatingFit(Macs, truth)!;
        Assert.IsNotNull(fit);
        for (int d = 0; d < truth.Length; d++) Assert.AreEqual(truth[d], fit[d], 1e-9, $"width {d}");
    }

    [TestMethod]
    public void SaturatingFit_SmoothsNoise_IntoAStrictlyIncreasingConcaveCurve()
    {
        var rng = new Random(2);
        double gamma = 0.5;
        double[] truth = Macs.Select(m => 0.99 - 0.01 * Math.Pow(m / (double)Macs[^1], -gamma)).ToArray();
        double[] noisy = truth.Select(v => v + (rng.NextDouble() - 0.5) * 0.004).ToArray();
        double[] fit = DecoderGainCurve.SaturatingFit(Macs, noisy)!;
        double[] envelope = DecoderGainCurve.Envelope(noisy);
        for (int d = 1; d < fit.Length; d++)
        {
            Assert.IsTrue(fit[d] > fit[d - 1], $"fit not increasing at {d}");
            Assert.IsTrue(envelope[d] >= envelope[d - 1]);
        }
        // Concave in MACs: slopes between neighbours decrease.
        for (int d = 2; d < fit.Length; d++)
            Assert.IsTrue((fit[d] - fit[d - 1]) / (Macs[d] - Macs[d - 1]) < (fit[d - 1] - fit[d - 2]) / (Macs[d - 1] - Macs[d - 2]) + 1e-15, $"not concave at {d}");
        double FitError(double[] curve) => curve.Zip(truth, (a, b) => (a - b) * (a - b)).Sum();
        Assert.IsTrue(FitError(fit) < FitError(noisy) / 3, $"fit error {FitError(fit)} vs noise {FitError(noisy)}");
    }

    [TestMethod]
    public void SaturatingFit_GivesUp_OnDecreasingOrTooFewPoints()
    {
        Assert.IsNull(DecoderGainCurve.SaturatingFit(Macs, Macs.Select(m => 1.0 - m * 1e-9).ToArray()));
        Assert.IsNull(DecoderGainCurve.SaturatingFit([1, 2], [0.5, 0.6]));
        Assert.IsNull(DecoderGainCurve.SaturatingFit([0, 1, 2], [0.5, 0.6, 0.7]));
    }

    /// <summary>Two tasks with noisy staircase calibrations over 29 decoder widths: stage 2 on the fitted curves reaches
    /// more distinct decoder splits over a preference sweep than on the envelopes, never exceeds the budget and keeps the
    /// monotone guarantee.</summary>
    [TestMethod]
    public void FittedGains_ReachMoreBudgetSplits_ThanTheEnvelope()
    {
        var widths = new WidthSet(Enumerable.Range(4, 29).Select(k => k / 32.0).ToArray());
        string[] names = ["a", "b"];
        long[][] dec = [Enumerable.Range(4, 29).Select(k => 100L * k).ToArray()];
        var costs = new CostTable(widths, names, [[1.0]], [1000], [dec, dec]);
        var rng = new Random(9);
        double[][] Noisy(double scale, double g) => [Enumerable.Range(4, 29)
            .Select(k => 1 - scale * Math.Pow(k / 32.0, -g) + (rng.NextDouble() - 0.5) * scale * 0.3).ToArray()];
        var cal = new CalibrationTable(names, [true, true], widths, [Noisy(0.01, 0.8), Noisy(0.03, 0.6)], 0);
        Budget budget = Budget.Macs(1000 + 100 * 40); // decoder widths whose indices sum to about 32
        var fitted = new ConfigurationSearch(costs, cal);
        var envelope = new ConfigurationSearch(costs, cal, options: new SearchOptions { DecoderGainModel = DecoderGainModel.MonotoneEnvelope });
        int Distinct(ConfigurationSearch s)
        {
            var seen = new HashSet<string>();
            int previous = -1;
            for (int i = 0; i <= 100; i++)
            {
                SearchResult r = s.Search(budget, [i / 100.0, 1 - i / 100.0]);
                Assert.IsTrue(r.Macs <= 1000 + 100 * 40);
                Assert.IsTrue(r.DecoderWidthIndices[0] >= previous, "raising task a's preference narrowed its decoder");
                previous = r.DecoderWidthIndices[0];
                seen.Add(r.Configuration.ToString());
            }
            return seen.Count;
        }
        int fit = Distinct(fitted), env = Distinct(envelope);
        Assert.IsTrue(fit >= 8 && fit > env + 2, $"fitted {fit}, envelope {env}");
    }
}
