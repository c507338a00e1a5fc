using System.Collections.Concurrent;
using System.Diagnostics;
using MLNetSlim.Architecture;

namespace MLNetSlim.Control;

/// <summary>
/// Predicted forward-pass latency (milliseconds, on the machine that measured it) of every configuration, in the same
/// separable form as <see cref="CostTable"/>: ms(c) = overhead + enc(e) + sum_t dec_t(e, d_t). Used as the cost when a
/// budget is given in <see cref="BudgetUnit.Milliseconds"/>.
/// </summary>
/// <remarks>
/// <para><b>Per-factor measurement, and why.</b> Measuring every configuration takes #encoder options x #widths^T
/// passes (4 x 4^20 for 20 tasks), so the table is built from per-factor measurements instead: the encoder alone at
/// each option (E measurements) and each decoder alone at each (e, d) (T x E x W measurements), summed. That is
/// exact for MACs but only approximately additive for time: caches, thread-pool warm-up and per-call framework
/// overhead do not add up. When a whole-configuration measurer is supplied, a constant <see cref="OverheadMs"/> is
/// fitted (median of whole minus per-factor sum on the smallest and full configuration of each encoder option), and
/// <see cref="CompareWithWholeConfiguration"/> reports the remaining error.</para>
/// <para><b>Build time.</b> (E + T·E·W) x repeats calls of the measuring delegates, plus 2·E x repeats whole passes
/// when a whole-configuration measurer is given; e.g. 4 encoder options, 3 tasks, 4 widths, 3 repeats = 156 calls;
/// at ~2 ms per call about 0.3 s. <see cref="MeasurementTime"/> records the actual wall time.</para>
/// <para><b>Caching.</b> Latency belongs to a machine and a process, so it is not stored in the model file. Use
/// <see cref="GetOrMeasure"/> to measure once per process per model key.</para>
/// </remarks>
public sealed class LatencyTable
{
    private static readonly ConcurrentDictionary<string, Lazy<LatencyTable>> Cache = new(StringComparer.Ordinal);

    private readonly double[] _encoderMs;
    private readonly double[][][] _decoderMs; // [t][e][d]

    /// <summary>Creates a latency table from per-factor latencies.</summary>
    /// <param name="costs">The network's cost table (for shapes and width lookup).</param>
    /// <param name="encoderMs">Encoder latency per encoder option, ms.</param>
    /// <param name="decoderMs">Decoder latency [t][e][d], ms.</param>
    /// <param name="overheadMs">Constant per-pass overhead added to every configuration, ms (may be negative when
    /// the per-factor calls each paid an overhead the whole pass pays once).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">Shapes disagree with <paramref name="costs"/>, a value is not finite or a
    /// factor latency is negative, or the smallest configuration would have a non-positive latency.</exception>
    public LatencyTable(CostTable costs, double[] encoderMs, double[][][] decoderMs, double overheadMs = 0)
    {
        ArgumentNullException.ThrowIfNull(costs);
        ArgumentNullException.ThrowIfNull(encoderMs);
        ArgumentNullException.ThrowIfNull(decoderMs);
        Costs = costs;
        if (encoderMs.Length != costs.EncoderOptionCount)
            throw new ArgumentException($"{encoderMs.Length} encoder latencies for {costs.EncoderOptionCount} encoder options.", nameof(encoderMs));
        if (decoderMs.Length != costs.TaskCount || decoderMs.Any(p => p is null || p.Length != costs.EncoderOptionCount || p.Any(r => r is null || r.Length != costs.DecoderWidths.Count)))
            throw new ArgumentException("Decoder latencies must be [tasks][encoder options][widths].", nameof(decoderMs));
        if (encoderMs.Any(v => !double.IsFinite(v) || v < 0) || decoderMs.SelectMany(p => p).SelectMany(r => r).Any(v => !double.IsFinite(v) || v < 0))
            throw new ArgumentException("Latencies must be finite and non-negative.");
        if (!double.IsFinite(overheadMs)) throw new ArgumentException("The overhead must be finite.", nameof(overheadMs));
        _encoderMs = (double[])encoderMs.Clone();
        _decoderMs = decoderMs.Select(p => p.Select(r => (double[])r.Clone()).ToArray()).ToArray();
        OverheadMs = overheadMs;
        double smallest = double.PositiveInfinity;
        for (int e = 0; e < costs.EncoderOptionCount; e++)
        {
            double s = overheadMs + _encoderMs[e];
            for (int t = 0; t < costs.TaskCount; t++) s += _decoderMs[t][e].Min();
            smallest = Math.Min(smallest, s);
        }
        if (!(smallest > 0)) throw new ArgumentException($"The cheapest configuration would take {smallest} ms; latencies must be positive.", nameof(overheadMs));
    }

    /// <summary>The cost table this latency table belongs to.</summary>
    public CostTable Costs { get; }

    /// <summary>Constant per-pass overhead in ms.</summary>
    public double OverheadMs { get; }

    /// <summary>Wall time spent measuring (zero when built from given values).</summary>
    public TimeSpan MeasurementTime { get; private init; }

    /// <summary>Number of calls made to the measuring delegates (zero when built from given values).</summary>
    public int MeasurementCalls { get; private init; }

    /// <summary>Encoder latency at option <paramref name="encoderOption"/>, ms.</summary>
    /// <exception cref="IndexOutOfRangeException">No such option.</exception>
    public double EncoderMs(int encoderOption) => _encoderMs[encoderOption];

    /// <summary>Latency of task t's decoder at encoder option e and decoder width index d, ms.</summary>
    /// <exception cref="IndexOutOfRangeException">An index is out of range.</exception>
    public double DecoderMs(int task, int encoderOption, int decoderWidthIndex) => _decoderMs[task][encoderOption][decoderWidthIndex];

    /// <summary>Predicted latency of configuration (e, d), ms: overhead + enc(e) + sum_t dec_t(e, d_t).</summary>
    /// <exception cref="ArgumentException">Wrong number of decoder widths.</exception>
    public double PredictMs(int encoderOption, IReadOnlyList<int> decoderWidthIndices)
    {
        if (decoderWidthIndices.Count != Costs.TaskCount)
            throw new ArgumentException($"{decoderWidthIndices.Count} widths for {Costs.TaskCount} tasks.", nameof(decoderWidthIndices));
        double ms = OverheadMs + _encoderMs[encoderOption];
        for (int t = 0; t < decoderWidthIndices.Count; t++) ms += _decoderMs[t][encoderOption][decoderWidthIndices[t]];
        return ms;
    }

    /// <summary>Predicted latency of <paramref name="configuration"/>, ms.</summary>
    /// <exception cref="ArgumentException">The configuration does not fit the network.</exception>
    public double PredictMs(WidthConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        configuration.Validate(Costs.EncoderWidths, Costs.DecoderWidths, Costs.TaskCount, Costs.EncoderOption(0).Count);
        int e = Costs.EncoderOptionOf(configuration);
        return PredictMs(e, configuration.DecoderWidths.Select(w => Costs.DecoderWidths.IndexOf(w)).ToArray());
    }

    /// <summary>
    /// Measures a latency table per factor (see remarks). Each delegate returns one measured latency in ms (the
    /// delegate does its own warm-up and timing); each factor is measured <paramref name="repeats"/> times and the
    /// median kept.
    /// </summary>
    /// <param name="costs">The network's cost table.</param>
    /// <param name="measureEncoderMs">Encoder option e -> encoder-only forward latency, ms.</param>
    /// <param name="measureDecoderMs">(task t, encoder option e, decoder width index d) -> that decoder's forward
    /// latency on features of encoder option e, ms.</param>
    /// <param name="measureWholeMs">Optional: configuration -> whole forward latency, ms; used to fit
    /// <see cref="OverheadMs"/>.</param>
    /// <param name="repeats">Measurements per factor (median taken), at least 1.</param>
    /// <exception cref="ArgumentNullException">A required argument is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="repeats"/> is below 1.</exception>
    /// <exception cref="ArgumentException">A delegate returned a negative or non-finite latency.</exception>
    public static LatencyTable Measure(CostTable costs, Func<int, double> measureEncoderMs, Func<int, int, int, double> measureDecoderMs,
        Func<WidthConfiguration, double>? measureWholeMs = null, int repeats = 3)
    {
        ArgumentNullException.ThrowIfNull(costs);
        ArgumentNullException.ThrowIfNull(measureEncoderMs);
        ArgumentNullException.ThrowIfNull(measureDecoderMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        var sw = Stopwatch.StartNew();
        int calls = 0;
        double Median(Func<double> f)
        {
            var v = new double[repeats];
            for (int i = 0; i < repeats; i++) { v[i] = f(); calls++; }
            Array.Sort(v);
            return repeats % 2 == 1 ? v[repeats / 2] : 0.5 * (v[repeats / 2 - 1] + v[repeats / 2]);
        }
        int eCount = costs.EncoderOptionCount, tCount = costs.TaskCount, wCount = costs.DecoderWidths.Count;
        var enc = new double[eCount];
        for (int e = 0; e < eCount; e++) { int ee = e; enc[e] = Median(() => measureEncoderMs(ee)); }
        var dec = new double[tCount][][];
        for (int t = 0; t < tCount; t++)
        {
            dec[t] = new double[eCount][];
            for (int e = 0; e < eCount; e++)
            {
                dec[t][e] = new double[wCount];
                for (int d = 0; d < wCount; d++) { int tt = t, ee = e, dd = d; dec[t][e][d] = Median(() => measureDecoderMs(tt, ee, dd)); }
            }
        }
        double overhead = 0;
        if (measureWholeMs is not null)
        {
            var gaps = new List<double>();
            for (int e = 0; e < eCount; e++)
                foreach (int d in new[] { 0, wCount - 1 }.Distinct())
                {
                    WidthConfiguration c = costs.Configuration(e, Enumerable.Repeat(d, tCount).ToArray());
                    double sum = enc[e];
                    for (int t = 0; t < tCount; t++) sum += dec[t][e][d];
                    gaps.Add(Median(() => measureWholeMs(c)) - sum);
                }
            gaps.Sort();
            overhead = gaps.Count % 2 == 1 ? gaps[gaps.Count / 2] : 0.5 * (gaps[gaps.Count / 2 - 1] + gaps[gaps.Count / 2]);
            // Each per-factor measurement carries its own call overhead, so the whole can be faster than the sum and the
            // fitted offset negative; on a noisy machine it can even exceed the cheapest configuration's sum. Keep every
            // predicted latency at least half its per-factor sum.
            double cheapest = Enumerable.Range(0, eCount).Min(e => enc[e] + Enumerable.Range(0, tCount).Sum(t => dec[t][e].Min()));
            overhead = Math.Max(overhead, -0.5 * cheapest);
        }
        sw.Stop();
        return new LatencyTable(costs, enc, dec, overhead) { MeasurementTime = sw.Elapsed, MeasurementCalls = calls };
    }

    /// <summary>
    /// Compares the per-factor prediction with whole-configuration measurements: the error of the additive model.
    /// </summary>
    /// <param name="measureWholeMs">Configuration -> measured whole forward latency, ms.</param>
    /// <param name="configurations">The configurations to check.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">No configurations, or one does not fit the network.</exception>
    internal LatencyAdditivityReport CompareWithWholeConfiguration(Func<WidthConfiguration, double> measureWholeMs, IEnumerable<WidthConfiguration> configurations)
    {
        ArgumentNullException.ThrowIfNull(measureWholeMs);
        ArgumentNullException.ThrowIfNull(configurations);
        int n = 0;
        double sumAbs = 0, maxAbs = 0, sumRel = 0;
        foreach (WidthConfiguration c in configurations)
        {
            double predicted = PredictMs(c), measured = measureWholeMs(c);
            double err = Math.Abs(predicted - measured);
            sumAbs += err;
            maxAbs = Math.Max(maxAbs, err);
            sumRel += measured > 0 ? err / measured : 0;
            n++;
        }
        if (n == 0) throw new ArgumentException("No configurations to compare.", nameof(configurations));
        return new LatencyAdditivityReport(n, sumAbs / n, maxAbs, sumRel / n);
    }

    /// <summary>
    /// Returns the latency table cached in this process under <paramref name="modelKey"/>, measuring it with
    /// <paramref name="measure"/> the first time (thread-safe; concurrent callers wait for one measurement). The key
    /// should identify the model and the run settings that change latency (e.g. model file hash, batch size, threads).
    /// </summary>
    /// <exception cref="ArgumentException">Empty key.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="measure"/> is null.</exception>
    public static LatencyTable GetOrMeasure(string modelKey, Func<LatencyTable> measure)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelKey);
        ArgumentNullException.ThrowIfNull(measure);
        Lazy<LatencyTable> lazy = Cache.GetOrAdd(modelKey, _ => new Lazy<LatencyTable>(measure, LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return lazy.Value;
        }
        catch
        {
            Cache.TryRemove(new KeyValuePair<string, Lazy<LatencyTable>>(modelKey, lazy));
            throw;
        }
    }

    /// <summary>Removes the cached table of <paramref name="modelKey"/>, if any; returns whether one was removed.</summary>
    public static bool Forget(string modelKey) => Cache.TryRemove(modelKey, out _);
}

/// <summary>Error of the additive (per-factor) latency model against whole-configuration measurements.</summary>
/// <param name="Configurations">Number of configurations compared.</param>
/// <param name="MeanAbsoluteErrorMs">Mean |predicted - measured|, ms.</param>
/// <param name="MaxAbsoluteErrorMs">Largest |predicted - measured|, ms.</param>
/// <param name="MeanRelativeError">Mean |predicted - measured| / measured (fraction).</param>
internal sealed record LatencyAdditivityReport(int Configurations, double MeanAbsoluteErrorMs, double MaxAbsoluteErrorMs, double MeanRelativeError);
