using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Control;

[TestClass]
public class ControlParetoFrontTests
{
    [TestMethod]
    public void TinyCase_FrontMatchesHandComputation()
    {
        // Widths {0.5, 1}; encoder options {1.0} only; 2 tasks. MACs: encoder 100; decoder a: 10 / 30; b: 10 / 20.
        // Accuracy a: 0.6 / 0.8 -> P 0.75 / 1; b: 0.4 / 0.8 -> P 0.5 / 1.
        // Configurations (d_a, d_b): (0,0) 120 P(0.75,0.5); (1,0) 140 P(1,0.5); (0,1) 130 P(0.75,1); (1,1) 150 P(1,1).
        WidthSet w = new(0.5, 1.0);
        var costs = new CostTable(w, ["a", "b"], [[1.0]], [100], [[[10, 30]], [[10, 20]]]);
        var cal = new CalibrationTable(["a", "b"], [true, true], w, [[[0.6, 0.8]], [[0.4, 0.8]]], 0);
        var search = new ConfigurationSearch(costs, cal);

        // Budget 145: (1,1) is out; (0,0) is dominated by both (1,0) and (0,1); front = {(1,0), (0,1)}.
        ParetoFrontResult f = search.ParetoFront(Budget.Macs(145));
        Assert.IsTrue(f.IsExact);
        Assert.AreEqual(2, f.Points.Count);
        CollectionAssert.AreEqual(new[] { 1, 0 }, f.Points[0].DecoderWidthIndices.ToArray());
        CollectionAssert.AreEqual(new[] { 0, 1 }, f.Points[1].DecoderWidthIndices.ToArray());
        Assert.AreEqual(140L, f.Points[0].Macs);
        // Budget 150: (1,1) dominates everything.
        ParetoFrontResult g = search.ParetoFront(Budget.Macs(150));
        Assert.AreEqual(1, g.Points.Count);
        CollectionAssert.AreEqual(new[] { 1, 1 }, g.Points[0].DecoderWidthIndices.ToArray());
        // Budget 125: only (0,0).
        Assert.AreEqual(1, search.ParetoFront(Budget.Macs(125)).Points.Count);
    }

    [TestMethod]
    public void RandomThreeTaskCase_FrontIsNonDominatedAndCoversEveryFeasibleConfiguration()
    {
        var (costs, cal) = ControlTestTables.Random(3, 77);
        var search = new ConfigurationSearch(costs, cal);
        Budget b = Budget.FractionOfFull(0.7);
        ParetoFrontResult f = search.ParetoFront(b);
        Assert.IsTrue(f.IsExact);
        double cap = 0.7 * costs.FullMacs;
        foreach (ParetoPoint x in f.Points)
        {
            Assert.IsTrue(x.Macs <= cap);
            foreach (ParetoPoint y in f.Points)
                if (!ReferenceEquals(x, y))
                    Assert.IsFalse(x.RelativePerformance.Zip(y.RelativePerformance).All(z => z.First >= z.Second), "front points must not weakly dominate each other");
        }
        var d = new int[3];
        for (int e = 0; e < 3; e++)
            for (int k = 0; k < 64; k++)
            {
                d[0] = k % 4; d[1] = k / 4 % 4; d[2] = k / 16;
                if (costs.Macs(costs.Configuration(e, d)) > cap) continue;
                double[] p = cal.Relative(e, d);
                Assert.IsTrue(f.Points.Any(x => x.RelativePerformance.Zip(p).All(z => z.First >= z.Second)), "every feasible configuration is weakly dominated by the front");
            }
    }

    [TestMethod]
    public void ManyTasks_GiveARestrictedFrontAtTheStageOneEncoder()
    {
        var (costs, cal) = ControlTestTables.Random(8, 5);
        var search = new ConfigurationSearch(costs, cal);
        Budget b = Budget.FractionOfFull(0.6);
        ParetoFrontResult f = search.ParetoFront(b);
        Assert.IsFalse(f.IsExact);
        Assert.IsTrue(f.Points.Count >= 2);
        int e = search.SelectEncoder(b);
        Assert.IsTrue(f.Points.All(x => x.EncoderOption == e && x.Macs <= 0.6 * costs.FullMacs));
    }
}
