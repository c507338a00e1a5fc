using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Nn;
using static TorchSharp.torch;

namespace MLNetSlim.Training;

/// <summary>
/// Recomputes exact batch-norm statistics for every context of a trained network ("post-statistics" batch-norm
/// calibration, Yu &amp; Huang, "Universally Slimmable Networks", ICCV 2019, Sec. 3.3). For each encoder option e and
/// each width d it runs the calibration images at (e, every decoder at d) in training mode without gradients, which
/// fills the encoder contexts e and every decoder's context (e, d). Cost: (#encoder options x #widths) forward passes.
/// </summary>
public static class BatchNormCalibration
{
    /// <summary>Recalibrates <paramref name="network"/> on the first <paramref name="images"/> images of <paramref name="data"/>.</summary>
    /// <exception cref="ArgumentException">No images.</exception>
    public static void Recalibrate(MultiTaskNetwork network, MultiTaskDataset data, int images, int batchSize, Device device)
    {
        int n = Math.Min(images, data.Count);
        if (n < 2) throw new ArgumentException("Batch-norm calibration needs at least 2 images.", nameof(images));
        List<SlimmableBatchNorm2d> norms = network.BatchNorms().ToList();
        bool wasTraining = network.training;
        foreach (SlimmableBatchNorm2d bn in norms) { bn.ResetCalibration(); bn.Calibrating = true; }
        network.train();
        try
        {
            using var noGrad = no_grad();
            int[] all = Enumerable.Range(0, n).ToArray();
            for (int e = 0; e < network.EncoderOptions.Count; e++)
                for (int d = 0; d < network.Widths.Count; d++)
                {
                    var configuration = network.CostTable.Configuration(e, Enumerable.Repeat(d, network.Tasks.Count).ToArray());
                    for (int start = 0; start < n; start += batchSize)
                    {
                        int count = Math.Min(batchSize, n - start);
                        if (count < 2) break; // batch statistics need two images
                        using var scope = NewDisposeScope();
                        Tensor x = TensorBatches.Images(data, all.AsSpan(start, count), device);
                        network.forward(x, configuration).Dispose();
                    }
                }
        }
        finally
        {
            foreach (SlimmableBatchNorm2d bn in norms) bn.Calibrating = false;
            network.train(wasTraining);
        }
    }
}
