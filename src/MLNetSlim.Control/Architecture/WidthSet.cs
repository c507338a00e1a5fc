namespace MLNetSlim.Architecture;

/// <summary>
/// The width multipliers a slimmable network can run at, e.g. {0.25, 0.5, 0.75, 1.0} (Yu et al., "Slimmable Neural
/// Networks", ICLR 2019). A layer with <c>C</c> full-width channels runs on its first <see cref="ActiveChannels"/>
/// channels at multiplier <c>w</c>.
/// </summary>
public sealed class WidthSet : IEquatable<WidthSet>
{
    private readonly double[] _multipliers;

    /// <summary>The default width set {0.25, 0.5, 0.75, 1.0}.</summary>
    public static WidthSet Default { get; } = new(0.25, 0.5, 0.75, 1.0);

    /// <summary>Creates a width set.</summary>
    /// <param name="multipliers">Distinct multipliers in (0, 1]; 1.0 (the full network) must be one of them.</param>
    /// <exception cref="ArgumentException">Empty, out of (0, 1], duplicated, or without 1.0.</exception>
    public WidthSet(params double[] multipliers)
    {
        ArgumentNullException.ThrowIfNull(multipliers);
        if (multipliers.Length == 0)
            throw new ArgumentException("A width set needs at least one multiplier (e.g. 0.25, 0.5, 0.75, 1.0).", nameof(multipliers));
        foreach (double w in multipliers)
            if (!(w > 0 && w <= 1))
                throw new ArgumentException($"Width multiplier {w} is outside (0, 1].", nameof(multipliers));
        _multipliers = multipliers.Distinct().OrderBy(w => w).ToArray();
        if (_multipliers.Length != multipliers.Length)
            throw new ArgumentException($"Width multipliers must be distinct: [{string.Join(", ", multipliers)}].", nameof(multipliers));
        if (_multipliers[^1] != 1.0)
            throw new ArgumentException($"A width set must contain 1.0 (the full network): [{string.Join(", ", multipliers)}].", nameof(multipliers));
    }

    /// <summary>The multipliers in ascending order.</summary>
    public IReadOnlyList<double> Multipliers => _multipliers;

    /// <summary>Number of multipliers.</summary>
    public int Count => _multipliers.Length;

    /// <summary>The smallest multiplier.</summary>
    public double Smallest => _multipliers[0];

    /// <summary>The largest multiplier (always 1.0).</summary>
    public double Largest => _multipliers[^1];

    /// <summary>The multiplier at <paramref name="index"/> (ascending order).</summary>
    public double this[int index] => _multipliers[index];

    /// <summary>Index of <paramref name="width"/> in the set, or -1.</summary>
    public int IndexOf(double width)
    {
        for (int i = 0; i < _multipliers.Length; i++)
            if (Math.Abs(_multipliers[i] - width) < 1e-9) return i;
        return -1;
    }

    /// <summary>True if <paramref name="width"/> is in the set.</summary>
    public bool Contains(double width) => IndexOf(width) >= 0;

    /// <summary>
    /// Channels a layer with <paramref name="fullChannels"/> channels uses at multiplier <paramref name="width"/>:
    /// <c>max(1, round(width * fullChannels))</c>, rounding halves away from zero.
    /// </summary>
    public static int ActiveChannels(int fullChannels, double width) =>
        Math.Max(1, (int)Math.Round(width * fullChannels, MidpointRounding.AwayFromZero));

    /// <summary>Parses "0.25,0.5,0.75,1".</summary>
    /// <exception cref="FormatException">A part is not a number.</exception>
    public static WidthSet Parse(string text) =>
        new(text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray());

    /// <inheritdoc />
    public bool Equals(WidthSet? other) => other is not null && _multipliers.SequenceEqual(other._multipliers);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as WidthSet);

    /// <inheritdoc />
    public override int GetHashCode() => _multipliers.Aggregate(17, (h, w) => h * 31 + w.GetHashCode());

    /// <summary>"{0.25, 0.5, 0.75, 1}".</summary>
    public override string ToString() =>
        "{" + string.Join(", ", _multipliers.Select(w => w.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "}";
}
