namespace MLNetSlim.Architecture;

/// <summary>
/// The exact cost, in multiply-accumulates (MACs), of every configuration of a slimmable multi-task network for one
/// input size, in separable form: MACs(c) = E(e) + sum_t D_t(e, d_t), where e is the encoder option (its width vector)
/// and d_t the index of task t's decoder width. Decoder t's cost depends on e only through the number of encoder output
/// channels it reads. FLOPs = 2 x MACs. Built by the network for a given input size.
/// </summary>
public sealed class CostTable
{
    private readonly double[][] _encoderOptions;
    private readonly long[] _encoderMacs;
    private readonly long[][][] _decoderMacs;
    private ResolvedConfiguration? _full, _smallest; // immutable once made; a race makes an equal copy

    /// <summary>Creates a cost table.</summary>
    /// <param name="decoderWidths">The decoder width set: decoder width index d runs decoders at multiplier
    /// <c>decoderWidths[d]</c>. It may be finer than the encoder's (docs/control.md, section 5).</param>
    /// <param name="taskNames">Task names in task order.</param>
    /// <param name="encoderOptions">The encoder width vectors the network can run (one multiplier, or one per stage).</param>
    /// <param name="encoderMacs">MACs of the encoder for each encoder option.</param>
    /// <param name="decoderMacs">MACs of decoder t at encoder option e and decoder width index d: [t][e][d].</param>
    /// <exception cref="ArgumentException">Sizes disagree.</exception>
    /// <remarks>The encoder width set (<see cref="EncoderWidths"/>) is the set of multipliers the encoder options use.</remarks>
    public CostTable(WidthSet decoderWidths, IReadOnlyList<string> taskNames, IReadOnlyList<double[]> encoderOptions,
        long[] encoderMacs, long[][][] decoderMacs)
    {
        ArgumentNullException.ThrowIfNull(decoderWidths);
        ArgumentNullException.ThrowIfNull(encoderOptions);
        DecoderWidths = decoderWidths;
        TaskNames = taskNames.ToArray();
        _encoderOptions = encoderOptions.Select(o => (double[])o.Clone()).ToArray();
        _encoderMacs = (long[])encoderMacs.Clone();
        _decoderMacs = decoderMacs;
        if (_encoderOptions.Length == 0 || _encoderOptions.Any(o => o.Length == 0))
            throw new ArgumentException("A cost table needs at least one encoder option, each with at least one multiplier.", nameof(encoderOptions));
        EncoderWidths = new WidthSet(_encoderOptions.SelectMany(o => o).Distinct().ToArray());
        if (_encoderMacs.Length != _encoderOptions.Length)
            throw new ArgumentException($"{_encoderMacs.Length} encoder costs for {_encoderOptions.Length} encoder options.", nameof(encoderMacs));
        if (decoderMacs.Length != TaskNames.Count)
            throw new ArgumentException($"{decoderMacs.Length} decoder cost tables for {TaskNames.Count} tasks.", nameof(decoderMacs));
        foreach (long[][] perTask in decoderMacs)
            if (perTask.Length != _encoderOptions.Length || perTask.Any(r => r.Length != decoderWidths.Count))
                throw new ArgumentException("Each task's decoder cost table must be [encoder options][decoder width set size].", nameof(decoderMacs));
    }

    /// <summary>The decoder width set: what decoder width indices index (ascending multipliers). Equal to
    /// <see cref="EncoderWidths"/> unless the network was built with a separate, e.g. finer, decoder set.</summary>
    public WidthSet DecoderWidths { get; }

    /// <summary>The encoder width set: the multipliers the encoder options are made of.</summary>
    public WidthSet EncoderWidths { get; }

    /// <summary>Task names in task order.</summary>
    public IReadOnlyList<string> TaskNames { get; }

    /// <summary>Number of tasks.</summary>
    public int TaskCount => TaskNames.Count;

    /// <summary>Number of encoder options.</summary>
    public int EncoderOptionCount => _encoderOptions.Length;

    /// <summary>The encoder width vector of option <paramref name="encoderOption"/>.</summary>
    public IReadOnlyList<double> EncoderOption(int encoderOption) => _encoderOptions[encoderOption];

    /// <summary>Encoder MACs at option <paramref name="encoderOption"/>.</summary>
    public long EncoderMacs(int encoderOption) => _encoderMacs[encoderOption];

    /// <summary>MACs of task <paramref name="task"/>'s decoder at encoder option e and decoder width index d.</summary>
    public long DecoderMacs(int task, int encoderOption, int decoderWidthIndex) => _decoderMacs[task][encoderOption][decoderWidthIndex];

    /// <summary>Index of the encoder option of <paramref name="configuration"/>.</summary>
    /// <exception cref="ArgumentException">The encoder widths are not one of the options.</exception>
    public int EncoderOptionOf(WidthConfiguration configuration)
    {
        for (int e = 0; e < _encoderOptions.Length; e++)
        {
            double[] o = _encoderOptions[e];
            IReadOnlyList<double> w = configuration.EncoderWidths;
            bool same = w.Count == o.Length ? w.SequenceEqual(o) : w.Count == 1 && o.All(x => x == w[0]);
            if (same) return e;
        }
        throw new ArgumentException($"Encoder widths of {configuration} are not an encoder option of this network.", nameof(configuration));
    }

    /// <summary>The configuration with encoder option e and decoder width indices d.</summary>
    public WidthConfiguration Configuration(int encoderOption, IReadOnlyList<int> decoderWidthIndices) =>
        new(_encoderOptions[encoderOption], decoderWidthIndices.Select(i => DecoderWidths[i]));

    /// <summary>
    /// The configuration with encoder option <paramref name="encoderOption"/> and decoder width indices
    /// <paramref name="decoderWidthIndices"/>, with its exact MACs: what the forward pass runs.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is out of range, or the number of indices is not the
    /// number of tasks.</exception>
    public ResolvedConfiguration At(int encoderOption, IReadOnlyList<int> decoderWidthIndices)
    {
        ArgumentNullException.ThrowIfNull(decoderWidthIndices);
        if ((uint)encoderOption >= (uint)_encoderOptions.Length)
            throw new ArgumentOutOfRangeException(nameof(encoderOption), encoderOption, $"The network has {_encoderOptions.Length} encoder options.");
        if (decoderWidthIndices.Count != TaskCount)
            throw new ArgumentOutOfRangeException(nameof(decoderWidthIndices), decoderWidthIndices.Count, $"{decoderWidthIndices.Count} decoder width indices for {TaskCount} tasks.");
        var d = new int[TaskCount];
        for (int t = 0; t < d.Length; t++)
        {
            d[t] = decoderWidthIndices[t];
            if ((uint)d[t] >= (uint)DecoderWidths.Count)
                throw new ArgumentOutOfRangeException(nameof(decoderWidthIndices), d[t], $"Decoder width index of task {t} is outside [0, {DecoderWidths.Count}).");
        }
        return new ResolvedConfiguration(encoderOption, d, SumMacs(encoderOption, d), Configuration(encoderOption, d));
    }

    /// <summary>
    /// Resolves <paramref name="configuration"/> (multipliers) against this table once: its encoder option, decoder
    /// width indices and exact MACs. The one place multipliers are validated and looked up.
    /// </summary>
    /// <exception cref="ArgumentException">The configuration does not fit this network (a multiplier outside the width
    /// set, a wrong number of tasks or encoder stages, an encoder vector that is not an option).</exception>
    public ResolvedConfiguration Resolve(WidthConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        configuration.Validate(EncoderWidths, DecoderWidths, TaskCount, _encoderOptions[0].Length);
        int e = EncoderOptionOf(configuration);
        var d = new int[TaskCount];
        for (int t = 0; t < d.Length; t++) d[t] = DecoderWidths.IndexOf(configuration.DecoderWidths[t]);
        return new ResolvedConfiguration(e, d, SumMacs(e, d), Configuration(e, d));
    }

    /// <summary>True when <paramref name="configuration"/>'s indices are in range for this table (a cheap check, no
    /// lookup).</summary>
    public bool Fits(ResolvedConfiguration configuration)
    {
        if ((uint)configuration.EncoderOption >= (uint)_encoderOptions.Length || configuration.TaskCount != TaskCount) return false;
        for (int t = 0; t < TaskCount; t++)
            if ((uint)configuration.DecoderWidthIndex(t) >= (uint)DecoderWidths.Count) return false;
        return true;
    }

    /// <summary>Exact MACs at encoder option e and decoder width indices d: E(e) + sum_t D_t(e, d_t), summed in that
    /// order.</summary>
    internal long SumMacs(int encoderOption, IReadOnlyList<int> decoderWidthIndices)
    {
        long macs = _encoderMacs[encoderOption];
        for (int t = 0; t < TaskCount; t++) macs += _decoderMacs[t][encoderOption][decoderWidthIndices[t]];
        return macs;
    }

    /// <summary>Exact MACs of <paramref name="configuration"/>.</summary>
    /// <exception cref="ArgumentException">The configuration does not fit this network.</exception>
    public long Macs(WidthConfiguration configuration) => Resolve(configuration).Macs;

    /// <summary>The full configuration (every multiplier 1.0), resolved.</summary>
    public ResolvedConfiguration Full => _full ??= At(FullOption(), Enumerable.Repeat(DecoderWidths.Count - 1, TaskCount).ToArray());

    /// <summary>The smallest configuration (the encoder at its smallest width, every decoder at the smallest decoder
    /// width), resolved.</summary>
    public ResolvedConfiguration Smallest => _smallest ??= At(SmallestOption(), new int[TaskCount]);

    /// <summary>MACs of the full configuration (every multiplier 1.0).</summary>
    public long FullMacs => Full.Macs;

    /// <summary>MACs of the smallest configuration (see <see cref="Smallest"/>).</summary>
    public long SmallestMacs => Smallest.Macs;

    private int FullOption() => EncoderOptionOf(WidthConfiguration.Uniform(1.0, TaskCount));

    private int SmallestOption() => EncoderOptionOf(WidthConfiguration.Uniform(EncoderWidths.Smallest, TaskCount));
}
