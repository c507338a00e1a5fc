using MLNetSlim.Control;

namespace MLNetSlim.Tests.Control;

// Class names start with "Control" so that the Control test filter (FullyQualifiedName~Control) runs them.
[TestClass]
public class ControlMetricsTests
{
    [TestMethod]
    public void Spearman_HandComputed()
    {
        // y ranks [1, 2, 4, 3]; d = [0, 0, -1, 1], sum d^2 = 2; rho = 1 - 6*2 / (4*(16-1)) = 1 - 12/60 = 0.8.
        Assert.AreEqual(0.8, MultiTaskMetrics.Spearman([1.0, 2, 3, 4], [10.0, 20, 40, 30]), 1e-12);
        // Ties: x ranks [1, 2.5, 2.5, 4] (centred -1.5, 0, 0, 1.5), y ranks [1..4] (centred -1.5, -.5, .5, 1.5):
        // sxy = 2.25 + 2.25 = 4.5, sxx = 4.5, syy = 5 -> 4.5 / sqrt(22.5) = sqrt(0.9).
        Assert.AreEqual(Math.Sqrt(0.9), MultiTaskMetrics.Spearman([1.0, 2, 2, 3], [1.0, 2, 3, 4]), 1e-12);
        CollectionAssert.AreEqual(new[] { 1.0, 2.5, 2.5, 4 }, MultiTaskMetrics.Ranks([1.0, 2, 2, 3]));
        Assert.AreEqual(-1.0, MultiTaskMetrics.Spearman([1.0, 2, 3], [3.0, 2, 1]), 1e-12);
        Assert.AreEqual(0.0, MultiTaskMetrics.Spearman([1.0, 2, 3], [5.0, 5, 5])); // constant side -> 0
        Assert.ThrowsExactly<ArgumentException>(() => MultiTaskMetrics.Spearman([1.0, 2], [1.0]));
    }

    [TestMethod]
    public void Uniformity_HandComputed()
    {
        // Equal weighted losses: Lhat = [.5, .5], KL = 0 -> 1.
        Assert.AreEqual(1.0, MultiTaskMetrics.Uniformity([0.5, 0.5], [0.2, 0.2]), 1e-12);
        // All weighted loss on task 0: Lhat = [1, 0], KL = ln 2 -> 1 - ln 2.
        Assert.AreEqual(1 - Math.Log(2), MultiTaskMetrics.Uniformity([1.0, 0], [0.3, 0.5]), 1e-12);
        // p = [.25, .75], L = [.4, .2]: pL = [.1, .15], Lhat = [.4, .6];
        // KL = .4 ln(.8) + .6 ln(1.2) = -0.0892574 + 0.1093929 = 0.0201355 -> 0.9798645.
        Assert.AreEqual(1 - (0.4 * Math.Log(0.8) + 0.6 * Math.Log(1.2)), MultiTaskMetrics.Uniformity([0.25, 0.75], [0.4, 0.2]), 1e-12);
        Assert.AreEqual(0.9798645, MultiTaskMetrics.Uniformity([0.25, 0.75], [0.4, 0.2]), 1e-6);
        Assert.AreEqual(1.0, MultiTaskMetrics.Uniformity([0.5, 0.5], [0.0, 0.0])); // no weighted loss -> 1 (documented)
        Assert.ThrowsExactly<ArgumentException>(() => MultiTaskMetrics.Uniformity([0.5, 0.5], [-0.1, 0.2]));
    }

    [TestMethod]
    public void Hypervolume_HandComputed()
    {
        // 2-D: boxes [0,.5]x[0,1] and [0,1]x[0,.5]: .5 + .5 - .25 = .75.
        Assert.AreEqual(0.75, MultiTaskMetrics.Hypervolume([[0.5, 1.0], [1.0, 0.5]]), 1e-12);
        // A dominated point adds nothing.
        Assert.AreEqual(0.75, MultiTaskMetrics.Hypervolume([[0.5, 1.0], [1.0, 0.5], [0.4, 0.4]]), 1e-12);
        // 3-D: (1,1,.5) and (.5,.5,1): .5 + .25 - (.5*.5*.5) = .625.
        Assert.AreEqual(0.625, MultiTaskMetrics.Hypervolume([[1.0, 1.0, 0.5], [0.5, 0.5, 1.0]]), 1e-12);
        // 4-D inclusion-exclusion: (1,1,1,.5) and (.5,1,1,1): .5 + .5 - .25 = .75.
        Assert.AreEqual(0.75, MultiTaskMetrics.Hypervolume([[1.0, 1, 1, 0.5], [0.5, 1, 1, 1]]), 1e-12);
        Assert.AreEqual(0.0, MultiTaskMetrics.Hypervolume([]));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => MultiTaskMetrics.Hypervolume([[1.2, 0.5]]));
    }

    [TestMethod]
    public void Hypervolume_ThreeDimensionalSweepAgreesWithInclusionExclusionAndMonteCarlo()
    {
        var rng = new Random(3);
        for (int rep = 0; rep < 5; rep++)
        {
            var pts3 = Enumerable.Range(0, 10).Select(_ => (IReadOnlyList<double>)new[] { rng.NextDouble(), rng.NextDouble(), rng.NextDouble() }).ToList();
            // A 4th coordinate of 1 leaves the volume unchanged and routes to inclusion-exclusion (10 points <= 16).
            var pts4 = pts3.Select(p => (IReadOnlyList<double>)p.Append(1.0).ToArray()).ToList();
            double sweep = MultiTaskMetrics.Hypervolume(pts3), ie = MultiTaskMetrics.Hypervolume(pts4);
            Assert.AreEqual(sweep, ie, 1e-12);
            // More than 16 points -> seeded Monte Carlo (duplicates do not change the volume).
            var many = pts4.Concat(pts4).ToList();
            double mc = MultiTaskMetrics.Hypervolume(many, 200_000, seed: 1);
            Assert.AreEqual(sweep, mc, 0.01);
            Assert.AreEqual(mc, MultiTaskMetrics.Hypervolume(many, 200_000, seed: 1)); // seeded
        }
    }

    [TestMethod]
    public void DeltaMtl_HandComputed()
    {
        // Accuracy .8 vs .75: +6.667 %; RMSE .5 vs .4 (lower is better): -25 %; mean -9.1667 %.
        Assert.AreEqual((0.05 / 0.75 * 100 - 25) / 2, MultiTaskMetrics.DeltaMtl([0.8, 0.5], [0.75, 0.4], [false, true]), 1e-12);
        Assert.AreEqual(0.0, MultiTaskMetrics.DeltaMtl([0.8, 0.5], [0.8, 0.5], [false, true]));
        Assert.ThrowsExactly<ArgumentException>(() => MultiTaskMetrics.DeltaMtl([0.8], [0.0], [false]));
    }

    [TestMethod]
    public void Dirichlet_SumsToOne_IsSeeded_AndHasTheRightMean()
    {
        double[] a = Dirichlet.Sample(new Random(5), 6, 0.2), b = Dirichlet.Sample(new Random(5), 6, 0.2), c = Dirichlet.Sample(new Random(6), 6, 0.2);
        CollectionAssert.AreEqual(a, b);
        CollectionAssert.AreNotEqual(a, c);
        var rng = new Random(1);
        var mean = new double[4];
        double maxShare = 0;
        const int n = 20000;
        for (int i = 0; i < n; i++)
        {
            double[] p = Dirichlet.Sample(rng, 4, 0.2);
            Assert.AreEqual(1.0, p.Sum(), 1e-12);
            Assert.IsTrue(p.All(x => x >= 0));
            for (int k = 0; k < 4; k++) mean[k] += p[k] / n;
            maxShare += p.Max() / n;
        }
        foreach (double m in mean) Assert.AreEqual(0.25, m, 0.01); // E[p_k] = 1/K
        Assert.IsTrue(maxShare > 0.75, $"alpha 0.2 concentrates mass on one task; mean max share {maxShare}");
        // Gamma(k, 1) has mean k (Marsaglia-Tsang for k >= 1, boosted for k < 1).
        foreach (double shape in new[] { 0.2, 1.0, 3.5 })
        {
            double s = 0;
            for (int i = 0; i < n; i++) s += Dirichlet.Gamma(rng, shape);
            Assert.AreEqual(shape, s / n, 0.05 * Math.Max(1, shape));
        }
    }
}
