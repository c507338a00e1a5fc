using System.Globalization;
using MLNetSlim.Architecture;

namespace MLNetSlim.Control;

/// <summary>
/// Per-factor calibration of a slimmable multi-task network for runtime control (ECMT, ICCV 2023, "search"): for every
/// task t, encoder option e and decoder width index d, the raw metric M_t(e, d) measured on held-out data, and the
/// relative performance P_t(e, d) = M_t(e, d) / M_t(full) (or M_t(full) / M_t(e, d) when lower is better), where
/// "full" is the full configuration (every multiplier 1.0). P is a unitless fraction of the full network's performance.
/// </summary>
/// <remarks>
/// <para><b>Why per-factor is exact.</b> In a shared-encoder / per-task-decoder network, task t's output depends only on
/// the encoder option e and on decoder t's own width d_t: the decoders do not read each other. Hence for every
/// configuration c = (e, d_1 .. d_T), P_t(c) = P_t(e, d_t) with no approximation, and the whole table needs only
/// (#encoder options x #widths) evaluation passes: pass (e, d) runs the encoder at e and EVERY decoder at width d and
/// records all T metrics at once. Exhaustive evaluation would need #encoder options x #widths^T passes.
/// <see cref="ExhaustiveCalibration"/> computes the exhaustive table so that this identity can be checked; it holds
/// exactly only if the evaluator is deterministic (fixed data, eval-mode BatchNorm) and the decoders are independent.</para>
/// <para>Serialised with <see cref="Write"/> / <see cref="Read"/> (format version <see cref="FormatVersion"/>) so that it
/// can be stored inside the model file.</para>
/// </remarks>
public sealed class CalibrationTable
{
    /// <summary>The current binary format version written by <see cref="Write"/>.</summary>
    public const int FormatVersion = 1;

    private const int Magic = 0x4C414345; // "ECAL" little-endian

    private readonly string[] _taskNames;
    private readonly bool[] _higherIsBetter;
    private readonly double[][][] _metric;   // [t][e][d]
    private readonly double[][][] _relative; // [t][e][d]
    private readonly double[] _widths;

    /// <summary>Creates a calibration table from measured metrics.</summary>
    /// <param name="taskNames">Task names in task order (unique).</param>
    /// <param name="higherIsBetter">Per task: true when a larger metric is better (accuracy, mIoU), false when smaller
    /// is better (RMSE, angular error).</param>
    /// <param name="widths">The width set the decoder width indices refer to.</param>
    /// <param name="metric">Raw metric per task, encoder option and decoder width index: [t][e][d].</param>
    /// <param name="fullEncoderOption">Index of the encoder option with every multiplier 1.0 (the full configuration
    /// uses it together with decoder width index <c>widths.Count - 1</c>).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">Sizes disagree, a task name is empty or repeated, a metric is not finite,
    /// a higher-is-better metric is negative or its full-configuration value is not positive, or a lower-is-better
    /// metric is not positive (relative performance would be undefined).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="fullEncoderOption"/> is not an encoder option.</exception>
    public CalibrationTable(IReadOnlyList<string> taskNames, IReadOnlyList<bool> higherIsBetter, WidthSet widths,
        double[][][] metric, int fullEncoderOption)
    {
        ArgumentNullException.ThrowIfNull(taskNames);
        ArgumentNullException.ThrowIfNull(higherIsBetter);
        ArgumentNullException.ThrowIfNull(widths);
        ArgumentNullException.ThrowIfNull(metric);
        _taskNames = taskNames.ToArray();
        if (_taskNames.Length == 0) throw new ArgumentException("A calibration table needs at least one task.", nameof(taskNames));
        if (_taskNames.Any(string.IsNullOrWhiteSpace)) throw new ArgumentException("Task names must not be empty.", nameof(taskNames));
        if (_taskNames.Distinct(StringComparer.Ordinal).Count() != _taskNames.Length)
            throw new ArgumentException($"Task names must be unique: [{string.Join(", ", _taskNames)}].", nameof(taskNames));
        _higherIsBetter = higherIsBetter.ToArray();
        if (_higherIsBetter.Length != _taskNames.Length)
            throw new ArgumentException($"{_higherIsBetter.Length} higher-is-better flags for {_taskNames.Length} tasks.", nameof(higherIsBetter));
        if (metric.Length != _taskNames.Length)
            throw new ArgumentException($"{metric.Length} metric tables for {_taskNames.Length} tasks.", nameof(metric));
        _widths = widths.Multipliers.ToArray();
        DecoderWidths = widths;
        int encoderOptions = metric[0]?.Length ?? 0;
        if (encoderOptions == 0) throw new ArgumentException("The metric table has no encoder options.", nameof(metric));
        if (fullEncoderOption < 0 || fullEncoderOption >= encoderOptions)
            throw new ArgumentOutOfRangeException(nameof(fullEncoderOption), fullEncoderOption, $"Must be in [0, {encoderOptions}).");
        EncoderOptionCount = encoderOptions;
        FullEncoderOption = fullEncoderOption;
        int w = widths.Count;
        _metric = new double[_taskNames.Length][][];
        _relative = new double[_taskNames.Length][][];
        for (int t = 0; t < _taskNames.Length; t++)
        {
            if (metric[t] is null || metric[t].Length != encoderOptions || metric[t].Any(r => r is null || r.Length != w))
                throw new ArgumentException($"The metric table of task '{_taskNames[t]}' must be [{encoderOptions} encoder options][{w} widths].", nameof(metric));
            _metric[t] = metric[t].Select(r => (double[])r.Clone()).ToArray();
            double full = _metric[t][fullEncoderOption][w - 1];
            _relative[t] = new double[encoderOptions][];
            for (int e = 0; e < encoderOptions; e++)
            {
                _relative[t][e] = new double[w];
                for (int d = 0; d < w; d++)
                {
                    double m = _metric[t][e][d];
                    if (!double.IsFinite(m))
                        throw new ArgumentException($"Metric of task '{_taskNames[t]}' at encoder option {e}, width index {d} is {m}.", nameof(metric));
                    if (_higherIsBetter[t])
                    {
                        if (m < 0) throw new ArgumentException($"Higher-is-better metric of task '{_taskNames[t]}' at encoder option {e}, width index {d} is negative ({m}).", nameof(metric));
                        if (!(full > 0)) throw new ArgumentException($"Task '{_taskNames[t]}' has a full-configuration metric of {full}; relative performance needs a positive value.", nameof(metric));
                        _relative[t][e][d] = m / full;
                    }
                    else
                    {
                        if (!(m > 0)) throw new ArgumentException($"Lower-is-better metric of task '{_taskNames[t]}' at encoder option {e}, width index {d} is {m}; relative performance needs a positive value.", nameof(metric));
                        _relative[t][e][d] = full / m;
                    }
                }
            }
        }
    }

    /// <summary>Task names in task order.</summary>
    public IReadOnlyList<string> TaskNames => _taskNames;

    /// <summary>Number of tasks.</summary>
    public int TaskCount => _taskNames.Length;

    /// <summary>Number of encoder options.</summary>
    public int EncoderOptionCount { get; }

    /// <summary>Number of decoder widths (the decoder width set's size).</summary>
    public int WidthCount => _widths.Length;

    /// <summary>The decoder width set the decoder width indices refer to (<see cref="CostTable.DecoderWidths"/>).</summary>
    public WidthSet DecoderWidths { get; }

    /// <summary>Index of the full encoder option (every multiplier 1.0).</summary>
    public int FullEncoderOption { get; }

    /// <summary>True when a larger metric of task <paramref name="task"/> is better.</summary>
    /// <exception cref="IndexOutOfRangeException">No such task.</exception>
    public bool HigherIsBetter(int task) => _higherIsBetter[task];

    /// <summary>The raw metric of task t at encoder option e and decoder width index d, in the task metric's own unit.</summary>
    /// <exception cref="IndexOutOfRangeException">An index is out of range.</exception>
    public double Metric(int task, int encoderOption, int decoderWidthIndex) => _metric[task][encoderOption][decoderWidthIndex];

    /// <summary>
    /// Relative performance P_t(e, d): the metric as a fraction of the full configuration's (inverted when lower is
    /// better), so that 1.0 means "as good as the full network" and larger is always better.
    /// </summary>
    /// <exception cref="IndexOutOfRangeException">An index is out of range.</exception>
    public double Relative(int task, int encoderOption, int decoderWidthIndex) => _relative[task][encoderOption][decoderWidthIndex];

    /// <summary>
    /// Relative performance of every task in configuration (e, d_1..d_T): P_t(e, d_t), exact for a network whose
    /// decoders are independent given the encoder (see the remarks on <see cref="CalibrationTable"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The number of decoder widths is not the number of tasks.</exception>
    public double[] Relative(int encoderOption, IReadOnlyList<int> decoderWidthIndices)
    {
        if (decoderWidthIndices.Count != TaskCount)
            throw new ArgumentException($"{decoderWidthIndices.Count} decoder widths for {TaskCount} tasks.", nameof(decoderWidthIndices));
        var p = new double[TaskCount];
        for (int t = 0; t < TaskCount; t++) p[t] = _relative[t][encoderOption][decoderWidthIndices[t]];
        return p;
    }

    /// <summary>
    /// Builds the table with #encoder options x #widths evaluation passes. Pass (e, d) calls
    /// <paramref name="evaluate"/>(e, d), which must run the network with the encoder at option e and EVERY decoder at
    /// width index d, and return each task's metric (in task order). Exact for independent decoders (see remarks).
    /// </summary>
    /// <param name="costs">The network's cost table (gives the width set, task names, encoder options and the full option).</param>
    /// <param name="higherIsBetter">Per task: true when a larger metric is better.</param>
    /// <param name="evaluate">(encoder option, decoder width index) -> per-task metric, length = number of tasks.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The evaluator returned the wrong number of metrics, or see the constructor.</exception>
    /// <exception cref="InvalidOperationException">The cost table has no encoder option with every multiplier 1.0.</exception>
    public static CalibrationTable Calibrate(CostTable costs, IReadOnlyList<bool> higherIsBetter, Func<int, int, double[]> evaluate)
    {
        ArgumentNullException.ThrowIfNull(costs);
        ArgumentNullException.ThrowIfNull(evaluate);
        int tasks = costs.TaskCount, options = costs.EncoderOptionCount, widths = costs.DecoderWidths.Count;
        var metric = new double[tasks][][];
        for (int t = 0; t < tasks; t++)
        {
            metric[t] = new double[options][];
            for (int e = 0; e < options; e++) metric[t][e] = new double[widths];
        }
        for (int e = 0; e < options; e++)
            for (int d = 0; d < widths; d++)
            {
                double[] m = evaluate(e, d) ?? throw new ArgumentException($"The evaluator returned null at encoder option {e}, width index {d}.", nameof(evaluate));
                if (m.Length != tasks)
                    throw new ArgumentException($"The evaluator returned {m.Length} metrics at encoder option {e}, width index {d}; the network has {tasks} tasks.", nameof(evaluate));
                for (int t = 0; t < tasks; t++) metric[t][e][d] = m[t];
            }
        return new CalibrationTable(costs.TaskNames, higherIsBetter, costs.DecoderWidths, metric, FullEncoderOptionOf(costs));
    }

    /// <summary>
    /// As <see cref="Calibrate(CostTable, IReadOnlyList{bool}, Func{int, int, double[]})"/>, with an evaluator that takes
    /// the configuration to run: it is called with encoder option e and every decoder at width index d.
    /// </summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The evaluator returned the wrong number of metrics, or see the constructor.</exception>
    /// <exception cref="InvalidOperationException">The cost table has no encoder option with every multiplier 1.0.</exception>
    public static CalibrationTable Calibrate(CostTable costs, IReadOnlyList<bool> higherIsBetter, Func<WidthConfiguration, double[]> evaluate)
    {
        ArgumentNullException.ThrowIfNull(costs);
        ArgumentNullException.ThrowIfNull(evaluate);
        return Calibrate(costs, higherIsBetter, (e, d) => evaluate(costs.Configuration(e, Enumerable.Repeat(d, costs.TaskCount).ToArray())));
    }

    /// <summary>The number of evaluation passes <see cref="Calibrate(CostTable, IReadOnlyList{bool}, Func{int, int, double[]})"/>
    /// makes: #encoder options x #widths.</summary>
    public static long PassCount(CostTable costs) => (long)costs.EncoderOptionCount * costs.DecoderWidths.Count;

    /// <summary>Index of the encoder option whose multipliers are all 1.0.</summary>
    /// <exception cref="InvalidOperationException">There is none.</exception>
    internal static int FullEncoderOptionOf(CostTable costs)
    {
        for (int e = 0; e < costs.EncoderOptionCount; e++)
            if (costs.EncoderOption(e).All(w => w == 1.0)) return e;
        throw new InvalidOperationException("The cost table has no encoder option with every multiplier 1.0 (the full configuration).");
    }

    /// <summary>Checks that this table fits <paramref name="costs"/>: same task names in order, width set and number of
    /// encoder options.</summary>
    /// <exception cref="ArgumentException">It does not; the message says what differs.</exception>
    public void EnsureMatches(CostTable costs)
    {
        ArgumentNullException.ThrowIfNull(costs);
        if (!costs.TaskNames.SequenceEqual(_taskNames, StringComparer.Ordinal))
            throw new ArgumentException($"Calibration tasks [{string.Join(", ", _taskNames)}] differ from the network's [{string.Join(", ", costs.TaskNames)}].");
        if (!costs.DecoderWidths.Equals(DecoderWidths))
            throw new ArgumentException($"Calibration decoder width set {DecoderWidths} differs from the network's {costs.DecoderWidths}.");
        if (costs.EncoderOptionCount != EncoderOptionCount)
            throw new ArgumentException($"Calibration has {EncoderOptionCount} encoder options; the network has {costs.EncoderOptionCount}.");
        if (FullEncoderOptionOf(costs) != FullEncoderOption)
            throw new ArgumentException($"Calibration's full encoder option is {FullEncoderOption}; the network's is {FullEncoderOptionOf(costs)}.");
    }

    /// <summary>
    /// Writes the table: an int magic ("ECAL"), the int format version (<see cref="FormatVersion"/>), task count,
    /// encoder option count, width count, full encoder option, the width multipliers, then per task its name,
    /// higher-is-better flag and raw metrics [e][d]. Relative values are recomputed on reading.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="writer"/> is null.</exception>
    /// <exception cref="IOException">The stream fails.</exception>
    public void Write(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(Magic);
        writer.Write(FormatVersion);
        writer.Write(TaskCount);
        writer.Write(EncoderOptionCount);
        writer.Write(WidthCount);
        writer.Write(FullEncoderOption);
        foreach (double w in _widths) writer.Write(w);
        for (int t = 0; t < TaskCount; t++)
        {
            writer.Write(_taskNames[t]);
            writer.Write(_higherIsBetter[t]);
            for (int e = 0; e < EncoderOptionCount; e++)
                for (int d = 0; d < WidthCount; d++) writer.Write(_metric[t][e][d]);
        }
    }

    /// <summary>Reads a table written by <see cref="Write"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="reader"/> is null.</exception>
    /// <exception cref="InvalidDataException">Not a calibration table, an unsupported format version, or
    /// inconsistent contents.</exception>
    /// <exception cref="EndOfStreamException">The stream ends early.</exception>
    public static CalibrationTable Read(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        int magic = reader.ReadInt32();
        if (magic != Magic) throw new InvalidDataException($"Not a calibration table (magic 0x{magic.ToString("X8", CultureInfo.InvariantCulture)}).");
        int version = reader.ReadInt32();
        if (version != FormatVersion)
            throw new InvalidDataException($"Calibration table format version {version} is not supported; this library reads version {FormatVersion}.");
        int tasks = reader.ReadInt32(), options = reader.ReadInt32(), widths = reader.ReadInt32(), full = reader.ReadInt32();
        if (tasks <= 0 || options <= 0 || widths <= 0 || tasks > 1 << 16 || options > 1 << 20 || widths > 1 << 10)
            throw new InvalidDataException($"Calibration table sizes are implausible: {tasks} tasks, {options} encoder options, {widths} widths.");
        var multipliers = new double[widths];
        for (int i = 0; i < widths; i++) multipliers[i] = reader.ReadDouble();
        var names = new string[tasks];
        var higher = new bool[tasks];
        var metric = new double[tasks][][];
        for (int t = 0; t < tasks; t++)
        {
            names[t] = reader.ReadString();
            higher[t] = reader.ReadBoolean();
            metric[t] = new double[options][];
            for (int e = 0; e < options; e++)
            {
                metric[t][e] = new double[widths];
                for (int d = 0; d < widths; d++) metric[t][e][d] = reader.ReadDouble();
            }
        }
        try
        {
            return new CalibrationTable(names, higher, new WidthSet(multipliers), metric, full);
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException("The stored calibration table is inconsistent: " + ex.Message, ex);
        }
    }
}
