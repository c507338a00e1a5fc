using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Runtime;
using static TorchSharp.torch;

namespace MLNetSlim.Evaluation;

/// <summary>Runs a network over a labelled data set at one width configuration and measures each task.</summary>
public static class NetworkEvaluator
{
    /// <summary>
    /// Per-task accuracy in [0, 1] of <paramref name="network"/> at <paramref name="configuration"/>: top-1 accuracy
    /// for classification, pixel accuracy for segmentation.
    /// </summary>
    /// <exception cref="ArgumentException">Empty data set.</exception>
    public static double[] Accuracy(MultiTaskNetwork network, MultiTaskDataset data, WidthConfiguration configuration, int batchSize = 256, string device = "cpu")
    {
        if (data.Count == 0) throw new ArgumentException("Cannot evaluate on an empty data set.", nameof(data));
        Device dev = TorchDevice.Resolve(device);
        bool wasTraining = network.training;
        network.eval();
        var correct = new long[network.Tasks.Count];
        var total = new long[network.Tasks.Count];
        int[] all = Enumerable.Range(0, data.Count).ToArray();
        try
        {
            using var noGrad = no_grad();
            for (int start = 0; start < data.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                int count = Math.Min(batchSize, data.Count - start);
                Tensor x = TensorBatches.Images(data, all.AsSpan(start, count), dev);
                MultiTaskOutput output = network.forward(x, configuration);
                for (int t = 0; t < network.Tasks.Count; t++)
                {
                    Tensor y = TensorBatches.Labels(data, t, all.AsSpan(start, count), dev);
                    Tensor predicted = output.TaskOutputs[t].argmax(1);
                    correct[t] += predicted.eq(y).sum().item<long>();
                    total[t] += y.numel();
                }
            }
        }
        finally
        {
            network.train(wasTraining);
        }
        return correct.Zip(total, (c, n) => (double)c / n).ToArray();
    }
    /// <summary>
    /// Per-task accuracy in [0, 1] at every encoder option e and decoder width index d: result[t][e][d]. Task t's output
    /// depends only on e and its own decoder width, so one pass per batch suffices: the encoder runs once per option and
    /// its output feeds every decoder at every width (E encoder passes and E x W decoder passes per batch instead of
    /// E x W whole-network passes). Equal to <see cref="Accuracy"/> at (e, every decoder at d) for every e and d.
    /// </summary>
    /// <exception cref="ArgumentException">Empty data set.</exception>
    public static double[][][] AccuracyTable(MultiTaskNetwork network, MultiTaskDataset data, int batchSize = 256, string device = "cpu")
    {
        if (data.Count == 0) throw new ArgumentException("Cannot evaluate on an empty data set.", nameof(data));
        Device dev = TorchDevice.Resolve(device);
        int tasks = network.Tasks.Count, options = network.EncoderOptions.Count, widths = network.Widths.Count;
        var correct = new long[tasks, options, widths];
        var total = new long[tasks];
        bool wasTraining = network.training;
        network.eval();
        int[] all = Enumerable.Range(0, data.Count).ToArray();
        try
        {
            using var noGrad = no_grad();
            for (int start = 0; start < data.Count; start += batchSize)
            {
                using var scope = NewDisposeScope();
                int count = Math.Min(batchSize, data.Count - start);
                Tensor x = TensorBatches.Images(data, all.AsSpan(start, count), dev);
                var y = new Tensor[tasks];
                for (int t = 0; t < tasks; t++)
                {
                    y[t] = TensorBatches.Labels(data, t, all.AsSpan(start, count), dev);
                    total[t] += y[t].numel();
                }
                for (int e = 0; e < options; e++)
                    network.ForwardEveryDecoderWidth(x, e, (t, d, output) =>
                    {
                        using Tensor hits = output.argmax(1).eq(y[t]).sum();
                        correct[t, e, d] += hits.item<long>();
                    });
            }
        }
        finally
        {
            network.train(wasTraining);
        }
        return Enumerable.Range(0, tasks).Select(t =>
            Enumerable.Range(0, options).Select(e =>
                Enumerable.Range(0, widths).Select(d => (double)correct[t, e, d] / total[t]).ToArray()).ToArray()).ToArray();
    }
}
