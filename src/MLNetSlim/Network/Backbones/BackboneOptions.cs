using MLNetSlim.Nn;

namespace MLNetSlim.Network.Backbones;

/// <summary>The backbone families.</summary>
public enum BackboneKind
{
    /// <summary>A small VGG-style conv net for 28-32 px images (<see cref="SmallConvNet"/>).</summary>
    SmallConvNet = 0,

    /// <summary>A ResNet of basic blocks with configurable stage widths and depths (<see cref="ResNet"/>).</summary>
    ResNet = 1,
}

/// <summary>
/// Describes a slimmable backbone as a list of stages. The first <see cref="SharedStages"/> stages form the shared
/// encoder; the remaining stages are copied into every task decoder (ECMT: a shared encoder and task-specific decoders,
/// both slimmable). Serialised into the model file.
/// </summary>
public sealed class BackboneOptions
{
    /// <summary>The family.</summary>
    public BackboneKind Kind { get; set; } = BackboneKind.SmallConvNet;

    /// <summary>Full output channels of each stage (before width multipliers).</summary>
    public int[] StageChannels { get; set; } = [32, 64, 128];

    /// <summary>Depth of each stage: conv layers (SmallConvNet) or basic blocks (ResNet).</summary>
    public int[] StageDepths { get; set; } = [1, 2, 2];

    /// <summary>ResNet only: channels of the 3x3 stem conv, which counts as encoder stage 0.</summary>
    public int StemChannels { get; set; } = 32;

    /// <summary>
    /// How many stages the shared encoder has; the rest go into every decoder. Null: all but the last stage, so each
    /// decoder owns the last stage plus its head and its width changes that task's accuracy.
    /// </summary>
    public int? SharedStages { get; set; }

    /// <summary>The default small conv net: stages of 32, 64 and 128 channels, depths 1, 2 and 2 (the last stage, two
    /// 3x3 convs, goes into every decoder, so each decoder is about a third of the network).</summary>
    public static BackboneOptions SmallConvNet() => new();

    /// <summary>A ResNet for small images: stem of 32 channels, then stages of 32, 64 and 128 channels of 2 basic
    /// blocks each (strides 1, 2, 2).</summary>
    public static BackboneOptions ResNet() => new() { Kind = BackboneKind.ResNet, StageChannels = [32, 64, 128], StageDepths = [2, 2, 2], StemChannels = 32 };

    /// <summary>Number of stages (the ResNet stem counts as one).</summary>
    public int StageCount => StageChannels.Length + (Kind == BackboneKind.ResNet ? 1 : 0);

    /// <summary>Stages in the shared encoder.</summary>
    public int EncoderStageCount => SharedStages ?? StageCount - 1;

    /// <summary>Checks the description.</summary>
    /// <exception cref="ArgumentException">Names the property that is wrong and what was expected.</exception>
    public void Validate()
    {
        if (StageChannels.Length == 0) throw new ArgumentException("BackboneOptions.StageChannels must list at least one stage.");
        if (StageDepths.Length != StageChannels.Length)
            throw new ArgumentException($"BackboneOptions.StageDepths has {StageDepths.Length} entries; StageChannels has {StageChannels.Length}.");
        if (StageChannels.Any(c => c < 1) || StageDepths.Any(d => d < 1))
            throw new ArgumentException("BackboneOptions.StageChannels and StageDepths must be positive.");
        if (Kind == BackboneKind.ResNet && StemChannels < 1) throw new ArgumentException("BackboneOptions.StemChannels must be positive.");
        if (EncoderStageCount < 1 || EncoderStageCount > StageCount)
            throw new ArgumentException($"BackboneOptions.SharedStages = {SharedStages} must be in [1, {StageCount}] (the backbone has {StageCount} stages).");
    }

    /// <summary>Builds stage <paramref name="index"/> with <paramref name="contexts"/> batch-norm contexts.</summary>
    internal SlimmableStage CreateStage(int index, int inputChannels, int contexts, string name) => Kind switch
    {
        BackboneKind.SmallConvNet => Backbones.SmallConvNet.CreateStage(this, index, inputChannels, contexts, name),
        BackboneKind.ResNet => Backbones.ResNet.CreateStage(this, index, inputChannels, contexts, name),
        _ => throw new ArgumentException($"Unknown backbone kind {Kind}."),
    };

    /// <summary>Full output channels of stage <paramref name="index"/>.</summary>
    internal int OutputChannelsOf(int index) =>
        Kind == BackboneKind.ResNet ? (index == 0 ? StemChannels : StageChannels[index - 1]) : StageChannels[index];
}
