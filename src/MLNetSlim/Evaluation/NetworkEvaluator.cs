using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Runtime;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Evaluation;

/// <summary>Runs a network over a labelled data set at one width configuration and measures each task.</summary>
internal static class NetworkEvaluator
{
    /// <summary>
    /// Per-task accuracy in [0, 1] of <paramref name="network"/> at <paramref name="configuration"/>: top-1 accuracy
    /// for classification, pixel accuracy for segmentation.
    /// </summary>
    /// <exception cref="ArgumentException">Empty data set.</exception>
    public static double[] Accuracy(MultiTaskNetwork network, IMultiTaskBatches data, WidthConfiguration configuration, int batchSize = 256, string device = "cpu")
    {
        var correct = new long[network.Tasks.Count];
        ResolvedConfiguration resolved = network.CostTable.Resolve(configuration); // once, not per batch
        long[] total = ForEachBatch(network, data, batchSize, device, (x, y) =>
        {
            using MultiTaskOutput output = network.forward(x, resolved);
            for (int t = 0; t < y.Length; t++) correct[t] += Hits(output.TaskOutputs[t], y[t]);
        });
        return correct.Zip(total, (c, n) => (double)c / n).ToArray();
    }

    /// <summary>
    /// Per-task accuracy in [0, 1] at every encoder option e and decoder width index d: result[t][e][d]. Task t's output
    /// depends only on e and its own decoder width, so one pass per batch suffices: the encoder runs once per option and
    /// its output feeds every decoder at every width (E encoder passes and E x W decoder passes per batch instead of
    /// E x W whole-network passes). Equal to <see cref="Accuracy(MultiTaskNetwork, IMultiTaskBatches, WidthConfiguration, int, string)"/> at (e, every decoder at d) for every e and d.
    /// </summary>
    /// <exception cref="ArgumentException">Empty data set.</exception>
    public static double[][][] AccuracyTable(MultiTaskNetwork network, IMultiTaskBatches data, int batchSize = 256, string device = "cpu")
    {
        int tasks = network.Tasks.Count, options = network.EncoderOptions.Count, widths = network.Widths.Count;
        var correct = new long[tasks, options, widths];
        long[] total = ForEachBatch(network, data, batchSize, device, (x, y) =>
        {
            for (int e = 0; e < options; e++)
                network.ForwardEveryDecoderWidth(x, e, (t, d, output) => correct[t, e, d] += Hits(output, y[t]));
        });
        return Enumerable.Range(0, tasks).Select(t =>
            Enumerable.Range(0, options).Select(e =>
                Enumerable.Range(0, widths).Select(d => (double)correct[t, e, d] / total[t]).ToArray()).ToArray()).ToArray();
    }

    /// <inheritdoc cref="Accuracy(MultiTaskNetwork, IMultiTaskBatches, WidthConfiguration, int, string)"/>
    public static double[] Accuracy(MultiTaskNetwork network, MultiTaskDataset data, WidthConfiguration configuration, int batchSize = 256, string device = "cpu") =>
        Accuracy(network, new InMemoryBatches(data), configuration, batchSize, device);

    /// <inheritdoc cref="AccuracyTable(MultiTaskNetwork, IMultiTaskBatches, int, string)"/>
    public static double[][][] AccuracyTable(MultiTaskNetwork network, MultiTaskDataset data, int batchSize = 256, string device = "cpu") =>
        AccuracyTable(network, new InMemoryBatches(data), batchSize, device);

    /// <summary>Correct predictions: argmax over dim 1 of (N, K[, H, W]) scores equal to the (N[, H, W]) labels.</summary>
    private static long Hits(Tensor scores, Tensor labels)
    {
        using Tensor predicted = scores.argmax(1);
        using Tensor equal = predicted.eq(labels);
        using Tensor sum = equal.sum();
        return sum.item<long>();
    }

    /// <summary>
    /// Runs <paramref name="visit"/>(images, labels per task) over <paramref name="data"/> in batches, in eval mode
    /// without gradients, each batch in its own dispose scope; restores the training mode. Returns the label count per
    /// task (images, or pixels for segmentation).
    /// </summary>
    private static long[] ForEachBatch(MultiTaskNetwork network, IMultiTaskBatches data, int batchSize, string device, Action<Tensor, Tensor[]> visit)
    {
        if (data.Count == 0) throw new ArgumentException("Cannot evaluate on an empty data set.", nameof(data));
        Device dev = TorchDevice.Resolve(device);
        int tasks = network.Tasks.Count;
        var total = new long[tasks];
        bool wasTraining = network.training;
        network.eval();
        try
        {
            using var noGrad = no_grad();
            foreach (HostBatch batch in data.Batches(batchSize, null, dropLast: false))
            {
                using var scope = NewDisposeScope();
                Tensor x = batch.ImageTensor(data.Channels, data.Height, data.Width, dev);
                var y = new Tensor[tasks];
                for (int t = 0; t < tasks; t++)
                {
                    y[t] = batch.LabelTensor(t, dev);
                    total[t] += y[t].numel();
                }
                visit(x, y);
            }
        }
        finally
        {
            network.train(wasTraining);
        }
        return total;
    }
}
