using System.Runtime.InteropServices;
using MLNetSlim.Architecture;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetSlim.Data;

/// <summary>
/// One batch on the host: <see cref="Count"/> images (N*C*H*W floats, NCHW) and per task either class indices
/// (classification: N ints, -1 = missing label, carried through unchanged) or label maps (per-pixel tasks:
/// N*L*H*W floats, L = <see cref="MultiTaskDataset.PixelLabelChannels"/>; segmentation maps hold class indices or the
/// task's ignore value as floats).
/// </summary>
internal sealed class HostBatch
{
    /// <summary>Creates a batch. For task t exactly one of <paramref name="classLabels"/>[t] (classification) and
    /// <paramref name="pixelLabels"/>[t] (per-pixel) is non-null; the arrays may be longer than the batch (a reused
    /// buffer): only the first <paramref name="count"/> images' values are used.</summary>
    public HostBatch(float[] images, int[]?[] classLabels, float[]?[] pixelLabels, int count)
    {
        if (classLabels.Length != pixelLabels.Length)
            throw new ArgumentException($"{classLabels.Length} class-label arrays but {pixelLabels.Length} label-map arrays.", nameof(pixelLabels));
        Images = images;
        ClassLabels = classLabels;
        PixelLabels = pixelLabels;
        Count = count;
    }

    /// <summary>At least Count*C*H*W floats (only the first Count images are used).</summary>
    public float[] Images { get; }

    /// <summary>[task] class indices (at least Count of them) of a classification task; null for a per-pixel task.</summary>
    public int[]?[] ClassLabels { get; }

    /// <summary>[task] label maps (at least Count*L*H*W floats) of a per-pixel task; null for a classification task.</summary>
    public float[]?[] PixelLabels { get; }

    /// <summary>Images in the batch.</summary>
    public int Count { get; }

    /// <summary>The full-capacity batch whose arrays this batch uses (itself unless made by <see cref="WithCount"/>):
    /// what goes back to a <see cref="HostBatchPool"/>.</summary>
    public HostBatch Buffer => _buffer ?? this;

    private HostBatch? _buffer;

    /// <summary>The images as an (N, C, H, W) float32 tensor on <paramref name="device"/>: a copy in libtorch's own
    /// memory, so the batch's arrays can be reused as soon as the tensor exists (TorchSharp's <c>tensor(float[])</c>
    /// would clone the array into a second pinned managed array that lives as long as the tensor).</summary>
    public Tensor ImageTensor(int channels, int height, int width, Device device)
    {
        int size = channels * height * width;
        return To(NativeCopy(Images.AsSpan(0, Count * size), new long[] { Count, channels, height, width }), device);
    }

    /// <summary>A float32 CPU tensor of <paramref name="shape"/> holding a copy of <paramref name="values"/> (libtorch's
    /// allocator, no managed array).</summary>
    internal static Tensor NativeCopy(ReadOnlySpan<float> values, long[] shape)
    {
        Tensor t = empty(shape, ScalarType.Float32);
        MemoryMarshal.AsBytes(values).CopyTo(t.bytes);
        return t;
    }

    /// <summary>Task <paramref name="task"/>'s labels on <paramref name="device"/>: (N) int64 for classification,
    /// (N, H, W) int64 for segmentation (the ignore value maps to itself, cross-entropy's ignore_index), (N, L, H, W)
    /// float32 for the other per-pixel tasks.</summary>
    public Tensor LabelTensor(TaskDefinition definition, int task, int height, int width, Device device)
    {
        if (!definition.IsPerPixel)
        {
            int[] classes = ClassLabels[task] ?? throw new InvalidOperationException($"Task '{definition.Name}' has no class labels in this batch.");
            var buffer = new long[Count];
            for (int i = 0; i < Count; i++) buffer[i] = classes[i];
            return To(tensor(buffer, new long[] { Count }), device);
        }
        float[] maps = PixelLabels[task] ?? throw new InvalidOperationException($"Task '{definition.Name}' ({definition.Kind}) has no label maps in this batch.");
        int l = MultiTaskDataset.PixelLabelChannels(definition);
        int size = l * height * width;
        if (definition.Kind == TaskKind.Segmentation)
        {
            // Class indices (or the ignore value) held as floats; float -> int64 truncates like the (long) cast.
            using Tensor values = NativeCopy(maps.AsSpan(0, Count * size), new long[] { Count, height, width });
            return To(values.to_type(ScalarType.Int64), device);
        }
        return To(NativeCopy(maps.AsSpan(0, Count * size), new long[] { Count, l, height, width }), device);
    }

    /// <summary>An empty batch buffer of <paramref name="capacity"/> rows for <paramref name="tasks"/> at (C, H, W):
    /// rows are written into its slots (<see cref="CopyRow"/>, or a reader) and it is handed on as a batch of the rows
    /// filled (<see cref="WithCount"/>).</summary>
    public static HostBatch Allocate(IReadOnlyList<TaskDefinition> tasks, int capacity, int channels, int height, int width)
    {
        var classLabels = new int[]?[tasks.Count];
        var pixelLabels = new float[]?[tasks.Count];
        for (int t = 0; t < tasks.Count; t++)
        {
            if (tasks[t].IsPerPixel) pixelLabels[t] = new float[(long)capacity * MultiTaskDataset.PixelLabelChannels(tasks[t]) * height * width];
            else classLabels[t] = new int[capacity];
        }
        return new HostBatch(new float[(long)capacity * channels * height * width], classLabels, pixelLabels, capacity);
    }

    /// <summary>The same arrays as a batch of the first <paramref name="count"/> rows.</summary>
    public HostBatch WithCount(int count) => new(Images, ClassLabels, PixelLabels, count) { _buffer = Buffer };

    /// <summary>A copy of the first <see cref="Count"/> rows (images of <paramref name="imageSize"/> = C*H*W floats) in
    /// arrays of their own, for a caller that keeps a batch after its enumeration moved on (see
    /// <see cref="IMultiTaskBatches.Batches"/>).</summary>
    public HostBatch Copy(int imageSize)
    {
        HostBatch copy = new(new float[(long)Count * imageSize],
            ClassLabels.Select(c => c is null ? null : new int[Count]).ToArray(),
            PixelLabels.Select(m => m is null ? null : new float[(long)Count * (m.Length / (Images.Length / imageSize))]).ToArray(), Count);
        for (int i = 0; i < Count; i++) CopyRow(i, copy, i, imageSize);
        return copy;
    }

    /// <summary>Copies row <paramref name="from"/> (image and every task's label) into slot <paramref name="to"/> of
    /// <paramref name="target"/>, a batch of the same tasks and image size.</summary>
    public void CopyRow(int from, HostBatch target, int to, int imageSize)
    {
        Array.Copy(Images, (long)from * imageSize, target.Images, (long)to * imageSize, imageSize);
        for (int t = 0; t < ClassLabels.Length; t++)
        {
            if (ClassLabels[t] is int[] classes) target.ClassLabels[t]![to] = classes[from];
            else
            {
                float[] maps = PixelLabels[t]!;
                int mapSize = (int)(maps.Length / (Images.Length / imageSize)); // the arrays hold the same number of rows
                Array.Copy(maps, (long)from * mapSize, target.PixelLabels[t]!, (long)to * mapSize, mapSize);
            }
        }
    }

    private static Tensor To(Tensor t, Device device)
    {
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
    /// the last partial batch is left out when <paramref name="dropLast"/>. A batch is valid until the enumeration
    /// moves on: its arrays are then reused for a later batch (<see cref="HostBatchPool"/>); keep a
    /// <see cref="HostBatch.Copy"/> to hold on to one.
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
        if (n <= 0) yield break;
        HostBatchPool pool = PoolFor(Math.Min(batchSize, n));
        for (int start = 0; start < n; start += batchSize)
        {
            int count = Math.Min(batchSize, n - start);
            if (count < batchSize && dropLast) yield break;
            HostBatch buffer = pool.Rent();
            GatherInto(Data, order.AsSpan(start, count), buffer);
            HostBatch batch = count == buffer.Count ? buffer : buffer.WithCount(count);
            yield return batch;
            pool.Return(batch); // the caller moved on
        }
    }

    private HostBatchPool? _pool;

    /// <summary>The batch buffers of this data set for batches of <paramref name="capacity"/> rows (kept across passes).</summary>
    private HostBatchPool PoolFor(int capacity)
    {
        HostBatchPool? pool = _pool;
        if (pool is null || pool.Capacity != capacity)
            _pool = pool = new HostBatchPool(Tasks, capacity, Channels, Height, Width, retained: 2);
        return pool;
    }

    /// <summary>Reads every batch of <paramref name="source"/> (in source order) into one in-memory data set.</summary>
    public static MultiTaskDataset Collect(IMultiTaskBatches source, CancellationToken cancellationToken)
    {
        int size = source.Channels * source.Height * source.Width, tasks = source.Tasks.Count;
        var batches = new List<HostBatch>();
        int n = 0;
        foreach (HostBatch b in source.Batches(256, null, dropLast: false))
        {
            cancellationToken.ThrowIfCancellationRequested();
            batches.Add(b.Copy(size)); // the source reuses b's arrays once the enumeration moves on
            n += b.Count;
        }
        HostBatch all = HostBatch.Allocate(source.Tasks, n, source.Channels, source.Height, source.Width);
        int row = 0;
        foreach (HostBatch b in batches)
            for (int i = 0; i < b.Count; i++) b.CopyRow(i, all, row++, size);
        return new MultiTaskDataset(all.Images, source.Channels, source.Height, source.Width, source.Tasks,
            Enumerable.Range(0, tasks).Select(t => all.ClassLabels[t] ?? []).ToArray(), all.PixelLabels);
    }

    /// <summary>The images and labels at <paramref name="indices"/>, in that order, as one batch.</summary>
    public static HostBatch Gather(MultiTaskDataset data, ReadOnlySpan<int> indices)
    {
        HostBatch batch = HostBatch.Allocate(data.Tasks, indices.Length, data.Channels, data.Height, data.Width);
        GatherInto(data, indices, batch);
        return batch;
    }

    /// <summary>Copies the images and labels at <paramref name="indices"/>, in that order, into the first slots of
    /// <paramref name="target"/> (a buffer of at least as many rows for the same tasks and image size).</summary>
    public static void GatherInto(MultiTaskDataset data, ReadOnlySpan<int> indices, HostBatch target)
    {
        int size = data.ImageSize, tasks = data.Tasks.Count;
        float[] images = target.Images;
        for (int i = 0; i < indices.Length; i++)
            Array.Copy(data.Images, (long)indices[i] * size, images, (long)i * size, size);
        for (int t = 0; t < tasks; t++)
        {
            if (data.PixelLabels[t] is float[] maps)
            {
                int mapSize = MultiTaskDataset.PixelLabelChannels(data.Tasks[t]) * data.Height * data.Width;
                float[] batch = target.PixelLabels[t]!;
                for (int i = 0; i < indices.Length; i++) Array.Copy(maps, (long)indices[i] * mapSize, batch, (long)i * mapSize, mapSize);
            }
            else
            {
                int[] batch = target.ClassLabels[t]!;
                for (int i = 0; i < indices.Length; i++) batch[i] = data.Labels[t][indices[i]];
            }
        }
    }
}
