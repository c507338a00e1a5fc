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

    /// <summary>The labels of task <paramref name="task"/> at <paramref name="indices"/> as an (N) int64 tensor.</summary>
    public static Tensor Labels(MultiTaskDataset data, int task, ReadOnlySpan<int> indices, Device device)
    {
        var buffer = new long[indices.Length];
        for (int i = 0; i < indices.Length; i++) buffer[i] = data.Labels[task][indices[i]];
        Tensor t = tensor(buffer, new long[] { indices.Length });
        if (device.type == DeviceType.CPU) return t;
        Tensor moved = t.to(device);
        t.Dispose();
        return moved;
    }
}
