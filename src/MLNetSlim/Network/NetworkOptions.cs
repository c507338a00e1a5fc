using MLNetSlim.Network.Backbones;
using MLNetSlim.Architecture;

namespace MLNetSlim.Network;

/// <summary>
/// Everything needed to build a <see cref="MultiTaskNetwork"/>: tasks, input shape (C, H, W), backbone and width sets.
/// Serialised (as JSON) into the model file, so that loading rebuilds the same architecture.
/// </summary>
public sealed class NetworkOptions
{
    /// <summary>The tasks, one decoder each.</summary>
    public TaskDefinition[] Tasks { get; set; } = [];

    /// <summary>Input channels C.</summary>
    public int Channels { get; set; } = 1;

    /// <summary>Input height H, pixels.</summary>
    public int Height { get; set; } = 28;

    /// <summary>Input width W, pixels.</summary>
    public int Width { get; set; } = 28;

    /// <summary>The backbone and the encoder/decoder split.</summary>
    public BackboneOptions Backbone { get; set; } = BackboneOptions.SmallConvNet();

    /// <summary>Encoder width multipliers, e.g. 0.25, 0.5, 0.75, 1.0; also the decoders' when
    /// <see cref="DecoderWidths"/> is null.</summary>
    public double[] Widths { get; set; } = [0.25, 0.5, 0.75, 1.0];

    /// <summary>
    /// Decoder width multipliers, or null (default, and what model files of format version 1 and 2 hold) for the same
    /// set as <see cref="Widths"/>. A finer decoder set gives the preference control more trade-offs per budget at a
    /// cost linear in its size: #encoder options x #decoder widths batch-norm contexts per decoder layer and
    /// calibration passes (docs/control.md, section 5). Distinct, in (0, 1], containing 1.0.
    /// </summary>
    public double[]? DecoderWidths { get; set; }

    /// <summary>
    /// When true the encoder takes one multiplier per stage (W^S encoder options); otherwise one for all stages
    /// (W options, the default).
    /// </summary>
    public bool PerStageEncoderWidths { get; set; }

    /// <summary>
    /// Per-pixel decoders (<see cref="Decoders.FpnLiteHead"/>): full channels of the feature pyramid, before the task's
    /// width multiplier. Default 64.
    /// </summary>
    public int PyramidChannels { get; set; } = 64;

    /// <summary>
    /// Per-pixel decoders: how many encoder stage outputs before the last one feed the pyramid as skip connections,
    /// finest last (0: only the decoder's own top feature). Default 1.
    /// </summary>
    public int PyramidSkips { get; set; } = 1;

    /// <summary>The encoder width set (<see cref="Widths"/>).</summary>
    public WidthSet EncoderWidthSet() => new(Widths);

    /// <summary>The decoder width set (<see cref="DecoderWidths"/>, or <see cref="Widths"/> when it is null).</summary>
    public WidthSet DecoderWidthSet() => new(DecoderWidths ?? Widths);

    /// <summary>Checks the options.</summary>
    /// <exception cref="ArgumentException">Names the property that is wrong and what was expected.</exception>
    public void Validate()
    {
        if (Tasks.Length == 0) throw new ArgumentException("NetworkOptions.Tasks must list at least one task.");
        var dup = Tasks.GroupBy(t => t.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"NetworkOptions.Tasks has two tasks named '{dup.Key}'.");
        if (Channels < 1 || Height < 4 || Width < 4)
            throw new ArgumentException($"NetworkOptions input shape (C, H, W) = ({Channels}, {Height}, {Width}) must have C >= 1 and H, W >= 4.");
        Check(nameof(Widths), () => EncoderWidthSet());
        if (DecoderWidths is not null) Check(nameof(DecoderWidths), () => DecoderWidthSet());
        if (PyramidChannels < 1) throw new ArgumentException($"NetworkOptions.PyramidChannels = {PyramidChannels} must be positive.");
        if (PyramidSkips < 0) throw new ArgumentException($"NetworkOptions.PyramidSkips = {PyramidSkips} must not be negative.");
        Backbone.Validate();
    }

    private static void Check(string property, Func<WidthSet> make)
    {
        try
        {
            _ = make();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"NetworkOptions.{property}: {e.Message}", property, e);
        }
    }
}
