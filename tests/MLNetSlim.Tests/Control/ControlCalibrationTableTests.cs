using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Control;

[TestClass]
public class ControlCalibrationTableTests
{
    private static CostTable TwoTaskCosts()
    {
        WidthSet w = new(0.5, 1.0);
        double[][] options = [[0.5], [1.0]];
        long[][][] dec = [[[10, 20], [15, 30]], [[5, 9], [7, 13]]];
        return new CostTable(w, ["seg", "depth"], options, [100, 300], dec);
    }

    // Task metric depends only on (e, d_t): seg accuracy, depth RMSE.
    private static double[] Independent(CostTable c, int e, IReadOnlyList<int> d) =>
        [0.5 + 0.2 * e + 0.1 * d[0], 2.0 - 0.3 * e - 0.4 * d[1]];

    [TestMethod]
    public void PerFactorTableEqualsExhaustiveEvaluation_WhenDecodersAreIndependent()
    {
        CostTable costs = TwoTaskCosts();
        int passes = 0;
        CalibrationTable table = CalibrationTable.Calibrate(costs, [true, false], (e, d) => { passes++; return Independent(costs, e, [d, d]); });
        Assert.AreEqual(4, passes); // 2 encoder options x 2 widths
        Assert.AreEqual(4L, CalibrationTable.PassCount(costs));
        ExhaustiveCalibration exhaustive = ExhaustiveCalibration.Evaluate(costs, [true, false], c =>
            Independent(costs, costs.EncoderOptionOf(c), c.DecoderWidths.Select(w => costs.DecoderWidths.IndexOf(w)).ToArray()));
        Assert.AreEqual(8, exhaustive.ConfigurationCount); // 2 x 2^2
        Assert.AreEqual(0.0, exhaustive.MaxAbsoluteError(table)); // exactly zero
    }

    [TestMethod]
    public void PerFactorTableDiffersFromExhaustive_WhenDecodersInteract()
    {
        CostTable costs = TwoTaskCosts();
        // Task 0's metric also depends on task 1's decoder width: not a shared-encoder / independent-decoder network.
        double[] Interacting(int e, IReadOnlyList<int> d) => [0.5 + 0.2 * e + 0.1 * d[0] + 0.05 * d[1], 2.0 - 0.3 * e - 0.4 * d[1]];
        CalibrationTable table = CalibrationTable.Calibrate(costs, [true, false], (e, d) => Interacting(e, [d, d]));
        ExhaustiveCalibration exhaustive = ExhaustiveCalibration.Evaluate(costs, [true, false], c =>
            Interacting(costs.EncoderOptionOf(c), c.DecoderWidths.Select(w => costs.DecoderWidths.IndexOf(w)).ToArray()));
        // e.g. e=1, d=(1,0): exhaustive 0.8/0.85, per-factor P(1,1) = 1: error 0.05/0.85 = 0.0588.
        Assert.AreEqual(0.05 / 0.85, exhaustive.MaxAbsoluteError(table), 1e-12);
    }

    [TestMethod]
    public void RelativePerformance_IsFractionOfFull_InvertedWhenLowerIsBetter()
    {
        CostTable costs = TwoTaskCosts();
        CalibrationTable table = CalibrationTable.Calibrate(costs, [true, false], (e, d) => Independent(costs, e, [d, d]));
        // Full: seg 0.5+0.2+0.1 = 0.8, depth 2-0.3-0.4 = 1.3. At e=0, d=0: seg 0.5 -> 0.625; depth 2.0 -> 1.3/2 = 0.65.
        Assert.AreEqual(0.625, table.Relative(0, 0, 0), 1e-12);
        Assert.AreEqual(0.65, table.Relative(1, 0, 0), 1e-12);
        Assert.AreEqual(1.0, table.Relative(0, 1, 1), 1e-12);
        Assert.AreEqual(1.0, table.Relative(1, 1, 1), 1e-12);
        Assert.AreEqual(2.0, table.Metric(1, 0, 0));
        Assert.IsFalse(table.HigherIsBetter(1));
    }

    [TestMethod]
    public void WriteRead_RoundTrips_AndRejectsOtherVersions()
    {
        var (costs, table) = ControlTestTables.Random(4, 3);
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) table.Write(w);
        ms.Position = 0;
        CalibrationTable back = CalibrationTable.Read(new BinaryReader(ms));
        back.EnsureMatches(costs);
        for (int t = 0; t < 4; t++)
        {
            Assert.AreEqual(table.HigherIsBetter(t), back.HigherIsBetter(t));
            for (int e = 0; e < 3; e++)
                for (int d = 0; d < 4; d++)
                {
                    Assert.AreEqual(table.Metric(t, e, d), back.Metric(t, e, d));
                    Assert.AreEqual(table.Relative(t, e, d), back.Relative(t, e, d));
                }
        }
        byte[] bytes = ms.ToArray();
        bytes[4] = 99; // format version
        Assert.ThrowsExactly<InvalidDataException>(() => CalibrationTable.Read(new BinaryReader(new MemoryStream(bytes))));
        bytes[0] = 0; // magic
        Assert.ThrowsExactly<InvalidDataException>(() => CalibrationTable.Read(new BinaryReader(new MemoryStream(bytes))));
    }

    [TestMethod]
    public void Calibrate_RejectsWrongMetricCountAndInvalidMetrics()
    {
        CostTable costs = TwoTaskCosts();
        Assert.ThrowsExactly<ArgumentException>(() => CalibrationTable.Calibrate(costs, [true, false], (e, d) => [1.0]));
        Assert.ThrowsExactly<ArgumentException>(() => CalibrationTable.Calibrate(costs, [true, false], (e, d) => [1.0, 0.0])); // RMSE 0
        Assert.ThrowsExactly<ArgumentException>(() => CalibrationTable.Calibrate(costs, [true, false], (e, d) => [double.NaN, 1.0]));
    }
}
