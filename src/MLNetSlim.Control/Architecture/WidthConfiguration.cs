using System.Globalization;

namespace MLNetSlim.Architecture;

/// <summary>
/// A runtime width configuration c = (w_enc, w_1 .. w_T) of a slimmable multi-task network (ECMT, ICCV 2023, Sec. 3):
/// width multipliers for the shared encoder (one for all stages, or one per stage) and one per task decoder.
/// Immutable; equality is by value.
/// </summary>
public sealed class WidthConfiguration : IEquatable<WidthConfiguration>
{
    private readonly double[] _encoder;
    private readonly double[] _decoders;

    /// <summary>Creates a configuration.</summary>
    /// <param name="encoderWidths">One multiplier (all encoder stages) or one per encoder stage.</param>
    /// <param name="decoderWidths">One multiplier per task decoder, in task order.</param>
    /// <exception cref="ArgumentException">An empty list.</exception>
    public WidthConfiguration(IEnumerable<double> encoderWidths, IEnumerable<double> decoderWidths)
    {
        _encoder = encoderWidths.ToArray();
        _decoders = decoderWidths.ToArray();
        if (_encoder.Length == 0) throw new ArgumentException("At least one encoder width is required.", nameof(encoderWidths));
        if (_decoders.Length == 0) throw new ArgumentException("At least one decoder (task) width is required.", nameof(decoderWidths));
    }

    /// <summary>Creates a configuration with one encoder multiplier for all stages.</summary>
    public WidthConfiguration(double encoderWidth, params double[] decoderWidths) : this(new[] { encoderWidth }, decoderWidths) { }

    /// <summary>Every part at <paramref name="width"/>.</summary>
    public static WidthConfiguration Uniform(double width, int taskCount) =>
        new(new[] { width }, Enumerable.Repeat(width, taskCount));

    /// <summary>Encoder multipliers: one (uniform) or one per stage.</summary>
    public IReadOnlyList<double> EncoderWidths => _encoder;

    /// <summary>Decoder multipliers, one per task in task order.</summary>
    public IReadOnlyList<double> DecoderWidths => _decoders;

    /// <summary>Number of tasks.</summary>
    public int TaskCount => _decoders.Length;

    /// <summary>The encoder's last-stage multiplier, which sets how many channels the decoders read.</summary>
    public double EncoderOutputWidth => _encoder[^1];

    /// <summary>Checks every multiplier against <paramref name="widths"/> and the counts against the network.</summary>
    /// <exception cref="ArgumentException">Names the part and the width set when a multiplier is not in it, or when
    /// the number of tasks or encoder stages is wrong.</exception>
    public void Validate(WidthSet widths, int taskCount, int encoderStages) => Validate(widths, widths, taskCount, encoderStages);

    /// <summary>Checks the encoder multipliers against <paramref name="encoderWidths"/>, the decoder multipliers
    /// against <paramref name="decoderWidths"/> (a network may run its decoders on a finer set than its encoder) and
    /// the counts against the network.</summary>
    /// <exception cref="ArgumentException">Names the part and the width set when a multiplier is not in it, or when
    /// the number of tasks or encoder stages is wrong.</exception>
    public void Validate(WidthSet encoderWidths, WidthSet decoderWidths, int taskCount, int encoderStages)
    {
        ArgumentNullException.ThrowIfNull(encoderWidths);
        ArgumentNullException.ThrowIfNull(decoderWidths);
        if (_decoders.Length != taskCount)
            throw new ArgumentException($"Configuration {this} has {_decoders.Length} decoder widths; the network has {taskCount} tasks.");
        if (_encoder.Length != 1 && _encoder.Length != encoderStages)
            throw new ArgumentException($"Configuration {this} has {_encoder.Length} encoder widths; expected 1 or {encoderStages} (one per stage).");
        for (int i = 0; i < _encoder.Length; i++)
            if (!encoderWidths.Contains(_encoder[i]))
                throw new ArgumentException($"Encoder width {F(_encoder[i])} (stage {i}) is not in the {(encoderWidths.Equals(decoderWidths) ? "" : "encoder ")}width set {encoderWidths}.");
        for (int t = 0; t < _decoders.Length; t++)
            if (!decoderWidths.Contains(_decoders[t]))
                throw new ArgumentException($"Decoder width {F(_decoders[t])} of task {t} is not in the {(encoderWidths.Equals(decoderWidths) ? "" : "decoder ")}width set {decoderWidths}.");
    }

    /// <summary>Parses the <see cref="ToString"/> form "enc=0.5 dec=1,0.25" (per-stage encoder: "enc=0.5,0.75,...").</summary>
    /// <exception cref="FormatException">The text is not in that form.</exception>
    public static WidthConfiguration Parse(string text)
    {
        double[]? enc = null, dec = null;
        foreach (string part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] kv = part.Split('=', 2);
            if (kv.Length != 2) throw new FormatException($"Expected 'enc=..' and 'dec=..' in '{text}'.");
            double[] values = kv[1].Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            if (kv[0] == "enc") enc = values;
            else if (kv[0] == "dec") dec = values;
            else throw new FormatException($"Unknown part '{kv[0]}' in '{text}'; expected 'enc' or 'dec'.");
        }
        if (enc is null || dec is null) throw new FormatException($"Expected 'enc=..' and 'dec=..' in '{text}'.");
        return new WidthConfiguration(enc, dec);
    }

    /// <summary>"enc=0.5 dec=1,0.25".</summary>
    public override string ToString() =>
        $"enc={string.Join(",", _encoder.Select(F))} dec={string.Join(",", _decoders.Select(F))}";

    private static string F(double w) => w.ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc />
    public bool Equals(WidthConfiguration? other) =>
        other is not null && _encoder.SequenceEqual(other._encoder) && _decoders.SequenceEqual(other._decoders);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as WidthConfiguration);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (double w in _encoder) h.Add(w);
        h.Add(-1.0);
        foreach (double w in _decoders) h.Add(w);
        return h.ToHashCode();
    }
}
