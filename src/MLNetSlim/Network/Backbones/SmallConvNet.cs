using MLNetSlim.Nn;

namespace MLNetSlim.Network.Backbones;

/// <summary>
/// A small VGG-style backbone for 28-32 px images: stage i is <c>StageDepths[i]</c> x (3x3 conv, BN, ReLU) with
/// <c>StageChannels[i]</c> channels, followed by 2x2 max pooling on every stage but the last. Default: 32-pool,
/// 64-64-pool, 128-128 (28x28 input: 28 -> 14 -> 7); the 128-128 stage is the decoders' own.
/// </summary>
public static class SmallConvNet
{
    internal static SlimmableStage CreateStage(BackboneOptions o, int index, int inputChannels, int contexts, string name) =>
        new ConvStage(inputChannels, o.StageChannels[index], o.StageDepths[index], pool: index < o.StageChannels.Length - 1, contexts, name);
}
