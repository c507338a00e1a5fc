namespace MLNetSlim.Architecture;

/// <summary>
/// A width configuration as the forward pass runs it: the encoder option index e and one decoder width index d_t per
/// task (indices into <see cref="CostTable.EncoderOption"/> and the width set), with its exact MACs per image. Made
/// once, by <see cref="CostTable.Resolve"/> (from multipliers, validated there) or <see cref="CostTable.At"/> (from
/// indices, as the search answers); the forward pass and the ML.NET transformer take it as is, with no per-call
/// parsing, validation or cost recomputation. Immutable and thread-safe; equality is by indices.
/// </summary>
public sealed class ResolvedConfiguration : IEquatable<ResolvedConfiguration>
{
    private readonly int[] _decoders;
    private readonly int _hash;

    internal ResolvedConfiguration(int encoderOption, int[] decoderWidthIndices, long macs, WidthConfiguration widths)
    {
        EncoderOption = encoderOption;
        _decoders = decoderWidthIndices;
        Macs = macs;
        Widths = widths;
        var h = new HashCode();
        h.Add(encoderOption);
        foreach (int d in decoderWidthIndices) h.Add(d);
        _hash = h.ToHashCode();
    }

    /// <summary>The encoder option index e.</summary>
    public int EncoderOption { get; }

    /// <summary>The decoder width indices d_t (into the width set, ascending multipliers), one per task in task order.</summary>
    public IReadOnlyList<int> DecoderWidthIndices => _decoders;

    /// <summary>Decoder width index of task <paramref name="task"/>.</summary>
    public int DecoderWidthIndex(int task) => _decoders[task];

    /// <summary>Number of tasks.</summary>
    public int TaskCount => _decoders.Length;

    /// <summary>Exact MACs per image of this configuration at the cost table's input size.</summary>
    public long Macs { get; }

    /// <summary>The same configuration as width multipliers (for display and for APIs that take multipliers).</summary>
    public WidthConfiguration Widths { get; }

    /// <summary>"enc=0.5 dec=1,0.25" (the multipliers, as <see cref="WidthConfiguration.ToString"/>).</summary>
    public override string ToString() => Widths.ToString();

    /// <inheritdoc />
    public bool Equals(ResolvedConfiguration? other) =>
        other is not null && (ReferenceEquals(this, other) || (other.EncoderOption == EncoderOption && other._decoders.AsSpan().SequenceEqual(_decoders)));

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as ResolvedConfiguration);

    /// <inheritdoc />
    public override int GetHashCode() => _hash;
}
