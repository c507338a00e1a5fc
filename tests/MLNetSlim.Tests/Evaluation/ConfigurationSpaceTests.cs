using MLNetSlim.Control;
using MLNetSlim.Demo;
using MLNetSlim.Architecture;
using MLNetSlim.Fixtures;

namespace MLNetSlim.Tests.Evaluation;

/// <summary>The demo's pure helpers (samples/MLNetSlim.Demo/ConfigurationSpace.cs, compiled into this project).</summary>
[TestClass]
public class ConfigurationSpaceTests
{
    [TestMethod]
    public void Enumerate_ListsEveryConfigurationOnceWithExactMacsAndPerFactorMetrics()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(2, 3);
        CostTable costs = problem.Costs;
        CalibrationTable table = problem.Calibration;
        IReadOnlyList<ConfigurationPoint> points = ConfigurationSpace.Enumerate(costs, table);

        Assert.AreEqual(4 * 4 * 4, points.Count);
        Assert.AreEqual(points.Count, points.Select(p => p.Configuration).Distinct().Count());
        foreach (ConfigurationPoint p in points)
        {
            Assert.AreEqual(costs.Macs(p.Configuration), p.Macs);
            Assert.AreEqual((double)p.Macs / costs.FullMacs, p.FractionOfFull);
            Assert.AreEqual(p.EncoderOption, costs.EncoderOptionOf(p.Configuration));
            for (int t = 0; t < 2; t++)
            {
                Assert.AreEqual(costs.DecoderWidths.IndexOf(p.Configuration.DecoderWidths[t]), p.DecoderWidthIndices[t]);
                Assert.AreEqual(table.Metric(t, p.EncoderOption, p.DecoderWidthIndices[t]), p.Metrics[t]);
            }
        }
        ConfigurationPoint full = points.Single(p => p.Configuration.Equals(WidthConfiguration.Uniform(1.0, 2)));
        Assert.AreEqual(1.0, full.FractionOfFull);
        Assert.AreEqual(costs.SmallestMacs, points.Min(p => p.Macs));

        Assert.ThrowsExactly<ArgumentException>(() => ConfigurationSpace.Enumerate(costs, SyntheticControlProblem.Create(3, 3).Calibration));
    }

    [TestMethod]
    public void ParetoFront_KeepsTheCheapestPointOfEachImprovement()
    {
        (double Cost, double Value, string Name)[] points =
        [
            (2, 0.4, "dominated by a"), (1, 0.5, "a"), (2, 0.7, "b"), (3, 0.7, "same value, dearer"), (4, 0.9, "c"),
            (1, 0.5, "duplicate of a"), (5, 0.8, "dearer and worse"),
        ];
        IReadOnlyList<(double Cost, double Value, string Name)> front = ConfigurationSpace.ParetoFront(points, p => p.Cost, p => p.Value);
        CollectionAssert.AreEqual(new[] { "a", "b", "c" }, front.Select(p => p.Name).ToArray());
        Assert.AreEqual(0, ConfigurationSpace.ParetoFront(Array.Empty<int>(), x => x, x => x).Count);
    }

    [TestMethod]
    public void ParetoFront_OfTheSpace_IsNotDominatedAndDominatesEveryOtherPoint()
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(2, 5, noise: 0.02);
        IReadOnlyList<ConfigurationPoint> points = ConfigurationSpace.Enumerate(problem.Costs, problem.Calibration);
        for (int t = 0; t < 2; t++)
        {
            int task = t;
            IReadOnlyList<ConfigurationPoint> front = ConfigurationSpace.ParetoFront(points, p => p.Macs, p => p.Metrics[task]);
            foreach (ConfigurationPoint f in front)
                Assert.IsFalse(points.Any(p => (p.Macs <= f.Macs && p.Metrics[task] > f.Metrics[task]) || (p.Macs < f.Macs && p.Metrics[task] >= f.Metrics[task])));
            foreach (ConfigurationPoint p in points.Except(front))
                Assert.IsTrue(front.Any(f => f.Macs <= p.Macs && f.Metrics[task] >= p.Metrics[task]));
        }
    }

    [TestMethod]
    public void ShowcaseAndPreferences_ForTwoTasks()
    {
        var showcase = ConfigurationSpace.Showcase(WidthSet.Default, 2);
        CollectionAssert.AreEqual(new[] { "enc=1 dec=1,1", "enc=0.25 dec=0.25,0.25", "enc=0.5 dec=1,0.25", "enc=0.75 dec=0.25,1" },
            showcase.Select(s => s.Configuration.ToString()).ToArray());
        var prefs = ConfigurationSpace.NamedPreferences(["digit", "fashion"]);
        CollectionAssert.AreEqual(new[] { "digit-heavy", "equal", "fashion-heavy" }, prefs.Select(p => p.Name).ToArray());
        CollectionAssert.AreEqual(new[] { 0.9, 0.1 }, prefs[0].Preferences);
        CollectionAssert.AreEqual(new[] { 0.5, 0.5 }, prefs[1].Preferences);
        CollectionAssert.AreEqual(new[] { 0.1, 0.9 }, prefs[2].Preferences);
        Assert.AreEqual(1, ConfigurationSpace.Showcase(new WidthSet(1.0), 2).Count); // full = smallest = mixed: one entry
    }
}
