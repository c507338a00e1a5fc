using MLNetSlim.Control;

namespace MLNetSlim.Tests.Control;

[TestClass]
public class DenseMetricsTests
{
    [TestMethod]
    public void Segmentation_MeanIoUAndPixelAccuracy_MatchHandCount()
    {
        // K = 3, ignore 255. (label, predicted): (0,0) (0,1) (1,1) (1,1) (2,0), the last pixel ignored.
        // IoU: class 0 = 1 / (1 + 1 + 1) = 1/3; class 1 = 2 / (2 + 1 + 0) = 2/3; class 2 = 0 / 1 = 0. mIoU = 1/3.
        var m = new SegmentationMetrics(3, 255);
        m.Add([0, 1, 1, 1, 0, 2], [0, 0, 1, 1, 2, 255]);
        Assert.AreEqual(1.0 / 3, m.MeanIoU, 1e-12);
        Assert.AreEqual(3.0 / 5, m.PixelAccuracy, 1e-12);
        Assert.AreEqual(5, m.Pixels);
    }

    [TestMethod]
    public void Segmentation_ClassesAbsentFromLabelsAndPredictions_DoNotCount()
    {
        var m = new SegmentationMetrics(4);
        m.Add([0, 1], [0, 1]);
        Assert.AreEqual(1.0, m.MeanIoU, 1e-12);
    }

    [TestMethod]
    public void Depth_RmseAbsRelDelta_MatchHandCount()
    {
        // Valid pairs (p, y): (1, 1), (2, 4), (5, 4); y = 0 is not a measurement.
        // RMSE = sqrt((0 + 4 + 1) / 3); abs-rel = (0 + 0.5 + 0.25) / 3; delta: 1 yes, 2 no, 1.25 not < 1.25.
        var m = new DepthMetrics();
        m.Add([1, 2, 4, 5], [1, 4, 0, 4]);
        Assert.AreEqual(Math.Sqrt(5.0 / 3), m.Rmse, 1e-12);
        Assert.AreEqual(0.25, m.AbsRel, 1e-12);
        Assert.AreEqual(1.0 / 3, m.Delta1, 1e-12);
        var ignoring = new DepthMetrics(ignoreValue: 4);
        ignoring.Add([1, 2, 4, 5], [1, 4, 0, 4]);
        Assert.AreEqual(1, ignoring.Pixels);
    }

    [TestMethod]
    public void Normals_MeanAngleAndWithin_MatchHandCount()
    {
        // Channel-planar (3, 4). Pixel 0: (1,0,0) vs (0,0,2) = 90 deg; pixel 1: (1,1,0) vs (1,0,0) = 45 deg;
        // pixel 2: label all zero, ignored; pixel 3: (0,0,3) vs (0,0,1) = 0 deg.
        float[] predicted = [1, 1, 5, 0, /* y */ 0, 1, 5, 0, /* z */ 0, 0, 5, 3];
        float[] labels = [0, 1, 0, 0, /* y */ 0, 0, 0, 0, /* z */ 2, 0, 0, 1];
        var m = new NormalMetrics();
        m.Add(predicted, labels);
        Assert.AreEqual(3, m.Pixels);
        Assert.AreEqual(45.0, m.MeanAngleError, 1e-4);
        Assert.AreEqual(1.0 / 3, m.Within11_25, 1e-12);
    }

    [TestMethod]
    public void BinaryF_AtHalfAndMax_MatchHandCount()
    {
        // Probabilities 0.9, 0.6, 0.4, 0.2, 0.7 for labels 1, 1, 1, 0, ignore.
        // t = 0.5: TP 2, predicted 2, positives 3: P = 1, R = 2/3, F1 = 0.8.
        // t in (0.2, 0.4]: TP 3, predicted 3: F1 = 1 (the maximum).
        var f1 = new BinaryFMeasure(1.0, ignoreValue: 255);
        f1.Add([0.9f, 0.6f, 0.4f, 0.2f, 0.7f], [1, 1, 1, 0, 255]);
        Assert.AreEqual(0.8, f1.FAtHalf, 1e-12);
        Assert.AreEqual(1.0, f1.MaxF, 1e-12);
        Assert.AreEqual(2 * 0.75 / 1.75, f1.F(19), 1e-12); // t = 0.20: 0.2 counts positive, P = 3/4, R = 1
        // Saliency beta^2 = 0.3 at t = 0.5: 1.3 * 1 * (2/3) / (0.3 + 2/3).
        var f03 = new BinaryFMeasure(0.3, ignoreValue: 255);
        f03.Add([0.9f, 0.6f, 0.4f, 0.2f, 0.7f], [1, 1, 1, 0, 255]);
        Assert.AreEqual(1.3 * (2.0 / 3) / (0.3 + 2.0 / 3), f03.FAtHalf, 1e-12);
    }
}
