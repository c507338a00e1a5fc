using MLNetSlim.Architecture;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetSlim.Data;

/// <summary>One batch on the host: <see cref="Count"/> images (NCHW floats) and per task their class indices.</summary>
internal sealed class HostBatch
{
    public HostBatch(float[] images, long[][] labels, int count)
    {
        Images = images;
        Labels = labels;
        Count = count;
    }

    /// <summary>Count*C*H*W floats (the array may be longer; only the first Count images are used).</summary>
    public float[] Images { get; }

    /// <summary>[task][i] class indices.</summary>
    public long[][] Labels { get; }

    /// <summary>Images in the batch.</summary>
    public int Count { get; }

    /// <summary>The images as an (N, C, H, W) tensor on <paramref name="device"/>.</summary>
    public Tensor ImageTensor(int channels, int height, int width, Device device)
    {
        int size = channels * height * width;
        float[] data = Images.Length == Count * size ? Images : Images.AsSpan(0, Count * size).ToArray();
        Tensor t = tensor(data, new long[] { Count, channels, height, width });
        if (device.type == DeviceType.CPU) return t;
        Tensor moved = t.to(device);
        t.Dispose();
        return moved;
    }

    /// <summary>Task <paramref name="task"/>'s labels as an (N) int64 tensor on <paramref name="device"/>.</summary>
    public Tensor LabelTensor(int task, Device device)
    {
        long[] data = Labels[task].Length == Count ? Labels[task] : Labels[task].AsSpan(0, Count).ToArray();
        Tensor t = tensor(data, new long[] { Count });
        if (device.type == DeviceType.CPU) return t;
        Tensor moved = t.to(device);
        t.Dispose();
        return moved;
    }
}

/// <summary>
/// Labelled multi-task images delivered batch by batch: an in-memory <see cref="MultiTaskDataset"/>
/// (<see cref="InMemoryBatches"/>) or rows streamed from a source (the ML.NET layer's IDataView cursor), so that
/// training, post-statistics and evaluation do not need all images in memory.
/// </summary>
internal interface IMultiTaskBatches
{
    /// <summary>C.</summary>
    int Channels { get; }

    /// <summary>H.</summary>
    int Height { get; }

    /// <summary>W.</summary>
    int Width { get; }

    /// <summary>The tasks, in label order.</summary>
    IReadOnlyList<TaskDefinition> Tasks { get; }

    /// <summary>Number of images.</summary>
    int Count { get; }

    /// <summary>
    /// One pass over the images in batches of <paramref name="batchSize"/>: in source order when
    /// <paramref name="shuffle"/> is null, else in an order drawn from it; at most <paramref name="take"/> images;
    /// the last partial batch is left out when <paramref name="dropLast"/>.
    /// </summary>
    IEnumerable<HostBatch> Batches(int batchSize, Random? shuffle, bool dropLast, int take = int.MaxValue);
}

/// <summary>An in-memory data set as batches. The shuffled order persists across passes and each shuffled pass
/// shuffles it again in place (exactly the trainer's order before streaming existed, so results are bit-identical).</summary>
internal sealed class InMemoryBatches : IMultiTaskBatches
{
    private readonly int[] _order;

    public InMemoryBatches(MultiTaskDataset data)
    {
        Data = data;
        _order = Enumerable.Range(0, data.Count).ToArray();
    }

    public MultiTaskDataset Data { get; }

    public int Channels => Data.Channels;

    public int Height => Data.Height;

    public int Width => Data.Width;

    public IReadOnlyList<TaskDefinition> Tasks => Data.Tasks;

    public int Count => Data.Count;

    public IEnumerable<HostBatch> Batches(int batchSize, Random? shuffle, bool dropLast, int take = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int[] order;
        if (shuffle is null) order = Enumerable.Range(0, Count).ToArray();
        else
        {
            shuffle.Shuffle(_order);
            order = _order;
        }
        int n = Math.Min(take, Count);
        int size = Data.ImageSize;
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            if (count < batchSize && dropLast) yield break;
            var images = new float[count * size];
            var labels = new long[Tasks.Count][];
            for (int t = 0; t < labels.Length; t++) labels[t] = new long[count];
            for (int i = 0; i < count; i++)
            {
                int row = order[start + i];
                Array.Copy(Data.Images, (long)row * size, images, (long)i * size, size);
                for (int t = 0; t < labels.Length; t++) labels[t][i] = Data.Labels[t][row];
            }
            yield return new HostBatch(images, labels, count);
        }
    }
}
