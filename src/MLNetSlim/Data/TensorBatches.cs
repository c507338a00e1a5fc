using static TorchSharp.torch;

namespace MLNetSlim.Data;

/// <summary>
/// Cuts a <see cref="MultiTaskDataset"/> into batches of tensors: images (N, C, H, W) float32 and per task labels, on a
/// given device (through <see cref="HostBatch"/>, the one host-to-tensor conversion). The caller disposes each batch
/// (or its dispose scope).
/// </summary>
internal static class TensorBatches
{
    /// <summary>The images at <paramref name="indices"/> as an (N, C, H, W) tensor.</summary>
    public static Tensor Images(MultiTaskDataset data, ReadOnlySpan<int> indices, Device device) =>
        InMemoryBatches.Gather(data, indices).ImageTensor(data.Channels, data.Height, data.Width, device);

    /// <summary>The labels of task <paramref name="task"/> at <paramref name="indices"/>: (N) int64 for classification,
    /// (N, H, W) int64 for segmentation, (N, L, H, W) float32 for the other per-pixel tasks.</summary>
    public static Tensor Labels(MultiTaskDataset data, int task, ReadOnlySpan<int> indices, Device device) =>
        InMemoryBatches.Gather(data, indices).LabelTensor(data.Tasks[task], task, data.Height, data.Width, device);
}
