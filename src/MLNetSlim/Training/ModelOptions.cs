using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Architecture;

namespace MLNetSlim.Training;

/// <summary>Everything <see cref="ModelTrainer.Train"/> needs besides the data.</summary>
public sealed class ModelOptions
{
    /// <summary>The backbone and the encoder/decoder split. Default: the small conv net.</summary>
    public BackboneOptions Backbone { get; set; } = BackboneOptions.SmallConvNet();

    /// <summary>Encoder width multipliers (and the decoders' when <see cref="DecoderWidths"/> is null). Default 0.25,
    /// 0.5, 0.75, 1.0.</summary>
    public double[] Widths { get; set; } = [0.25, 0.5, 0.75, 1.0];

    /// <summary>Decoder width multipliers, or null (default) for <see cref="Widths"/>; see
    /// <see cref="NetworkOptions.DecoderWidths"/>.</summary>
    public double[]? DecoderWidths { get; set; }

    /// <summary>One encoder multiplier per stage (W^S encoder options) instead of one for all stages.</summary>
    public bool PerStageEncoderWidths { get; set; }

    /// <summary>Per-pixel decoders: full feature-pyramid channels (see <see cref="NetworkOptions.PyramidChannels"/>). Default 64.</summary>
    public int PyramidChannels { get; set; } = 64;

    /// <summary>Per-pixel decoders: encoder skip connections (see <see cref="NetworkOptions.PyramidSkips"/>). Default 1.</summary>
    public int PyramidSkips { get; set; } = 1;

    /// <summary>Super-network training options (epochs, sandwich k, CI-KD weight, seed, device, ...).</summary>
    public TrainingOptions Training { get; set; } = new();

    /// <summary>
    /// Fraction of the training data held out to measure the calibration table when no validation set is given, in
    /// (0, 1). Default 0.1. (To hold out nothing, pass the training data as the validation data.)
    /// </summary>
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>The network options for a data set of this shape and these tasks.</summary>
    public NetworkOptions NetworkFor(IReadOnlyList<TaskDefinition> tasks, int channels, int height, int width) => new()
    {
        Tasks = tasks.ToArray(),
        Channels = channels,
        Height = height,
        Width = width,
        Backbone = Backbone,
        Widths = Widths,
        DecoderWidths = DecoderWidths,
        PerStageEncoderWidths = PerStageEncoderWidths,
        PyramidChannels = PyramidChannels,
        PyramidSkips = PyramidSkips,
    };
}
