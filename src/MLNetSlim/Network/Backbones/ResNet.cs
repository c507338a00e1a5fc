using MLNetSlim.Nn;

namespace MLNetSlim.Network.Backbones;

/// <summary>
/// A ResNet of basic blocks (He et al., CVPR 2016) for small images, CIFAR-style: a 3x3 stem conv (stage 0), then
/// stages of <c>StageDepths[i]</c> basic blocks with <c>StageChannels[i]</c> channels; the first stage keeps the
/// resolution and each later stage halves it.
/// </summary>
public static class ResNet
{
    internal static SlimmableStage CreateStage(BackboneOptions o, int index, int inputChannels, int contexts, string name) =>
        index == 0
            ? new ConvStage(inputChannels, o.StemChannels, 1, pool: false, contexts, name)
            : new ResidualStage(inputChannels, o.StageChannels[index - 1], o.StageDepths[index - 1], stride: index == 1 ? 1 : 2, contexts, name);
}
