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
    /// Per-task primary metric of <paramref name="network"/> at <paramref name="configuration"/>
    /// (<see cref="TaskDefinition.PrimaryMetric"/>): top-1 accuracy in [0, 1] for classification, mIoU for segmentation,
    /// RMSE for depth, mean angular error for normals, F for edges, max-F for saliency.
    /// </summary>
    /// <exception cref="ArgumentException">Empty data set.</exception>
    public static double[] Accuracy(MultiTaskNetwork network, IMultiTaskBatches data, WidthConfiguration configuration, int batchSize = 256, string device = "cpu") =>
        Metrics(network, data, configuration, batchSize, device).Select(m => m.Primary).ToArray();

    /// <inheritdoc cref="Accuracy(MultiTaskNetwork, IMultiTaskBatches, WidthConfiguration, int, string)"/>
    public static double[] Accuracy(MultiTaskNetwork network, MultiTaskDataset data, WidthConfiguration configuration, int batchSize = 256, string device = "cpu") =>
        Accuracy(network, new InMemoryBatches(data), configuration, batchSize, device);

    /// <summary>Every metric of every task at <paramref name="configuration"/> (see <see cref="TaskMetrics.All"/>).</summary>
    /// <exception cref="ArgumentException">Empty data set.</exception>
    public static TaskMetrics[] Metrics(MultiTaskNetwork network, MultiTaskDataset data, WidthConfiguration configuration, int batchSize = 256, string device = "cpu") =>
        Metrics(network, new InMemoryBatches(data), configuration, batchSize, device);

    /// <summary>Every metric of every task at <paramref name="configuration"/> on a batch source (in memory or streamed).</summary>
    /// <exception cref="ArgumentException">Empty data set.</exception>
    public static TaskMetrics[] Metrics(MultiTaskNetwork network, IMultiTaskBatches data, WidthConfiguration configuration, int batchSize = 256, string device = "cpu")
    {
        TaskMetrics[] metrics = network.Tasks.Select(t => new TaskMetrics(t)).ToArray();
        ResolvedConfiguration resolved = network.CostTable.Resolve(configuration); // once, not per batch
        ForEachBatch(network, data, batchSize, device, (x, y) =>
        {
            using MultiTaskOutput output = network.forward(x, resolved);
            for (int t = 0; t < y.Length; t++) metrics[t].Add(output.TaskOutputs[t], y[t]);
        });
        return metrics;
    }

    /// <summary>
    /// Per-task primary metric (as <see cref="Accuracy(MultiTaskNetwork, IMultiTaskBatches, WidthConfiguration, int, string)"/>) at every encoder option e and decoder width index d: result[t][e][d]. Task t's output
    /// depends only on e and its own decoder width, so one pass per batch suffices: the encoder runs once per option and
    /// its output feeds every decoder at every width (E encoder passes and E x W decoder passes per batch instead of
    /// E x W whole-network passes). Equal to <see cref="Accuracy(MultiTaskNetwork, IMultiTaskBatches, WidthConfiguration, int, string)"/> at (e, every decoder at d) for every e and d.
    /// </summary>
    /// <exception cref="ArgumentException">Empty data set.</exception>
    public static double[][][] AccuracyTable(MultiTaskNetwork network, MultiTaskDataset data, int batchSize = 256, string device = "cpu") =>
        AccuracyTable(network, new InMemoryBatches(data), batchSize, device);

    /// <summary>The table of <see cref="AccuracyTable(MultiTaskNetwork, MultiTaskDataset, int, string)"/> on a batch source (in memory or streamed).</summary>
    /// <exception cref="ArgumentException">Empty data set.</exception>
    public static double[][][] AccuracyTable(MultiTaskNetwork network, IMultiTaskBatches data, int batchSize = 256, string device = "cpu")
    {
        int tasks = network.Tasks.Count, options = network.EncoderOptions.Count, widths = network.DecoderWidths.Count;
        var metrics = new TaskMetrics[tasks, options, widths];
        for (int t = 0; t < tasks; t++)
            for (int e = 0; e < options; e++)
                for (int d = 0; d < widths; d++) metrics[t, e, d] = new TaskMetrics(network.Tasks[t]);
        ForEachBatch(network, data, batchSize, device, (x, y) =>
        {
            for (int e = 0; e < options; e++)
                network.ForwardEveryDecoderWidth(x, e, (t, d, output) => metrics[t, e, d].Add(output, y[t]));
        });
        return Enumerable.Range(0, tasks).Select(t =>
            Enumerable.Range(0, options).Select(e =>
                Enumerable.Range(0, widths).Select(d => metrics[t, e, d].Primary).ToArray()).ToArray()).ToArray();
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
                    y[t] = batch.LabelTensor(data.Tasks[t], t, data.Height, data.Width, dev);
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
