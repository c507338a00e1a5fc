using MLNetSlim.Architecture;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetSlim.Data;

/// <summary>
/// Cuts a <see cref="MultiTaskDataset"/> into batches of tensors: images (N, C, H, W) float32 and per task labels (N)
/// int64, on a given device. The caller disposes each batch (or its dispose scope).
/// </summary>
internal static class TensorBatches
{
    /// <summary>The images at <paramref name="indices"/> as an (N, C, H, W) tensor.</summary>
    public static Tensor Images(MultiTaskDataset data, ReadOnlySpan<int> indices, Device device)
    {
        int size = data.ImageSize;
        var buffer = new float[indices.Length * size];
        for (int i = 0; i < indices.Length; i++)
            Array.Copy(data.Images, (long)indices[i] * size, buffer, (long)i * size, size);
        Tensor t = tensor(buffer, new long[] { indices.Length, data.Channels, data.Height, data.Width });
        if (device.type == DeviceType.CPU) return t;
        Tensor moved = t.to(device);
        t.Dispose();
        return moved;
    }

    /// <summary>The labels of task <paramref name="task"/> at <paramref name="indices"/>: (N) int64 for classification,
    /// (N, H, W) int64 for segmentation, (N, L, H, W) float32 for the other per-pixel tasks.</summary>
    public static Tensor Labels(MultiTaskDataset data, int task, ReadOnlySpan<int> indices, Device device)
    {
        TaskDefinition definition = data.Tasks[task];
        if (definition.IsPerPixel) return PixelLabels(data, task, definition, indices, device);
        var buffer = new long[indices.Length];
        for (int i = 0; i < indices.Length; i++) buffer[i] = data.Labels[task][indices[i]];
        return To(tensor(buffer, new long[] { indices.Length }), device);
    }

    private static Tensor PixelLabels(MultiTaskDataset data, int task, TaskDefinition definition, ReadOnlySpan<int> indices, Device device)
    {
        int l = MultiTaskDataset.PixelLabelChannels(definition);
        int size = l * data.Height * data.Width;
        float[] maps = data.PixelLabels[task]!;
        if (definition.Kind == TaskKind.Segmentation)
        {
            // Class indices as int64; the ignore value maps to itself (cross-entropy's ignore_index).
            var classes = new long[indices.Length * size];
            for (int i = 0; i < indices.Length; i++)
                for (int j = 0; j < size; j++) classes[i * size + j] = (long)maps[(long)indices[i] * size + j];
            return To(tensor(classes, new long[] { indices.Length, data.Height, data.Width }), device);
        }
        var buffer = new float[indices.Length * size];
        for (int i = 0; i < indices.Length; i++) Array.Copy(maps, (long)indices[i] * size, buffer, (long)i * size, size);
        return To(tensor(buffer, new long[] { indices.Length, l, data.Height, data.Width }), device);
    }

    private static Tensor To(Tensor t, Device device)
    {
        if (device.type == DeviceType.CPU) return t;
        Tensor moved = t.to(device);
        t.Dispose();
        return moved;
    }
}
