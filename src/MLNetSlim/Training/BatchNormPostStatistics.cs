using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Nn;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Training;

/// <summary>
/// Recomputes exact batch-norm statistics for every context of a trained network (batch-norm
/// "post-statistics", Yu &amp; Huang, "Universally Slimmable Networks", ICCV 2019, Sec. 3.3). For each encoder option e and
/// each width d it runs the post-statistics images at (e, every decoder at d) in training mode without gradients, which
/// fills the encoder contexts e and every decoder's context (e, d). The encoder runs once per option and batch and feeds
/// every decoder width: cost #encoder options encoder passes plus #encoder options x #widths decoder passes.
/// </summary>
internal static class BatchNormPostStatistics
{
    /// <summary>Recomputes the batch-norm post-statistics of <paramref name="network"/> on the first <paramref name="images"/> images of <paramref name="data"/>.</summary>
    /// <param name="network">The network.</param>
    /// <param name="data">Images for the post-statistics (training images).</param>
    /// <param name="images">How many of the first images to use.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <param name="device">Torch device.</param>
    /// <param name="configurations">Only the contexts these configurations use (e.g. the one configuration of a static
    /// network trained with <see cref="TrainingOptions.FixedConfiguration"/>: one pass instead of #encoder options x
    /// #widths); null: every context.</param>
    /// <exception cref="ArgumentException">No images, or a configuration that does not fit the network.</exception>
    public static void Compute(MultiTaskNetwork network, MultiTaskDataset data, int images, int batchSize, Device device,
        IReadOnlyList<WidthConfiguration>? configurations = null) =>
        Compute(network, new InMemoryBatches(data), images, batchSize, device, configurations);

    /// <summary>Recomputes the batch-norm post-statistics on the first <paramref name="images"/> images of a batch source (in source order).</summary>
    public static void Compute(MultiTaskNetwork network, IMultiTaskBatches data, int images, int batchSize, Device device,
        IReadOnlyList<WidthConfiguration>? configurations = null)
    {
        foreach (WidthConfiguration c in configurations ?? []) network.Validate(c);
        int n = Math.Min(images, data.Count);
        if (n < 2) throw new ArgumentException("Batch-norm post-statistics need at least 2 images.", nameof(images));
        List<SlimmableBatchNorm2d> norms = network.BatchNorms().ToList();
        bool wasTraining = network.training;
        foreach (SlimmableBatchNorm2d bn in norms) { bn.ResetPostStatistics(); bn.CollectingPostStatistics = true; }
        network.train();
        try
        {
            using var noGrad = no_grad();
            foreach (HostBatch batch in data.Batches(batchSize, null, dropLast: false, take: n))
            {
                if (batch.Count < 2) break; // batch statistics need two images
                using var scope = NewDisposeScope();
                Tensor x = batch.ImageTensor(data.Channels, data.Height, data.Width, device);
                if (configurations is null)
                    for (int e = 0; e < network.EncoderOptions.Count; e++) network.ForwardEveryDecoderWidth(x, e, static (_, _, _) => { });
                else
                    foreach (WidthConfiguration configuration in configurations) network.forward(x, configuration).Dispose();
            }
        }
        finally
        {
            foreach (SlimmableBatchNorm2d bn in norms) bn.CollectingPostStatistics = false;
            network.train(wasTraining);
        }
    }
}
