using static TorchSharp.torch;

namespace MLNetSlim.Network;

/// <summary>
/// The result of one forward pass of a <see cref="MultiTaskNetwork"/>: the encoder's stage outputs (for CI-KD) and each
/// task's output. Owns its tensors: dispose it (or the enclosing dispose scope) when done.
/// </summary>
public sealed class MultiTaskOutput : IDisposable
{
    internal MultiTaskOutput(Tensor[] encoderFeatures, Tensor[] taskOutputs)
    {
        EncoderFeatures = encoderFeatures;
        TaskOutputs = taskOutputs;
    }

    /// <summary>Output of each encoder stage, (N, C_s', H_s, W_s); the last one is what the decoders read.</summary>
    public IReadOnlyList<Tensor> EncoderFeatures { get; }

    /// <summary>Per task, in task order: logits (N, K) for classification, (N, K, H, W) for segmentation.</summary>
    public IReadOnlyList<Tensor> TaskOutputs { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (Tensor t in EncoderFeatures) t.Dispose();
        foreach (Tensor t in TaskOutputs) t.Dispose();
    }
}
