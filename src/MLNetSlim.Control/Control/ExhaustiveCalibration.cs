using MLNetSlim.Architecture;

namespace MLNetSlim.Control;

/// <summary>
/// Exhaustive calibration: every task's metric measured on every configuration c = (e, d_1..d_T), i.e.
/// #encoder options x #widths^T evaluation passes. Only for checking <see cref="CalibrationTable"/>'s per-factor
/// identity P_t(c) = P_t(e, d_t) on small networks (reports, tests); the controller never needs it.
/// </summary>
internal sealed class ExhaustiveCalibration
{
    private readonly double[][] _relative; // [configuration index][t]
    private readonly int _tasks;
    private readonly int _widths;

    private ExhaustiveCalibration(double[][] relative, int tasks, int widths, int encoderOptions)
    {
        _relative = relative;
        _tasks = tasks;
        _widths = widths;
        EncoderOptionCount = encoderOptions;
    }

    /// <summary>Number of configurations evaluated (= number of evaluation passes).</summary>
    public int ConfigurationCount => _relative.Length;

    /// <summary>Number of encoder options.</summary>
    public int EncoderOptionCount { get; }

    /// <summary>
    /// Evaluates every configuration. <paramref name="evaluate"/> runs the network in the given configuration and
    /// returns each task's metric in task order. Relative performance is computed against the full configuration's
    /// metrics, exactly as <see cref="CalibrationTable"/> does.
    /// </summary>
    /// <param name="costs">The network's cost table.</param>
    /// <param name="higherIsBetter">Per task: true when a larger metric is better.</param>
    /// <param name="evaluate">Configuration -> per-task metric.</param>
    /// <param name="maxConfigurations">Refuse to run more passes than this (default 65536).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The configuration space exceeds <paramref name="maxConfigurations"/>, the
    /// evaluator returned the wrong number of metrics, or a metric is invalid (see <see cref="CalibrationTable"/>).</exception>
    /// <exception cref="InvalidOperationException">The cost table has no full encoder option.</exception>
    public static ExhaustiveCalibration Evaluate(CostTable costs, IReadOnlyList<bool> higherIsBetter,
        Func<WidthConfiguration, double[]> evaluate, int maxConfigurations = 65536)
    {
        ArgumentNullException.ThrowIfNull(costs);
        ArgumentNullException.ThrowIfNull(higherIsBetter);
        ArgumentNullException.ThrowIfNull(evaluate);
        int t = costs.TaskCount, w = costs.DecoderWidths.Count, eCount = costs.EncoderOptionCount;
        double total = eCount * Math.Pow(w, t);
        if (total > maxConfigurations)
            throw new ArgumentException($"Exhaustive calibration needs {total} passes, more than the limit of {maxConfigurations}.", nameof(maxConfigurations));
        if (higherIsBetter.Count != t) throw new ArgumentException($"{higherIsBetter.Count} flags for {t} tasks.", nameof(higherIsBetter));
        int perEncoder = (int)Math.Pow(w, t);
        var raw = new double[(int)total][];
        var d = new int[t];
        for (int e = 0; e < eCount; e++)
            for (int k = 0; k < perEncoder; k++)
            {
                Decode(k, w, d);
                double[] m = evaluate(costs.Configuration(e, d)) ?? throw new ArgumentException("The evaluator returned null.", nameof(evaluate));
                if (m.Length != t) throw new ArgumentException($"The evaluator returned {m.Length} metrics for {t} tasks.", nameof(evaluate));
                raw[e * perEncoder + k] = (double[])m.Clone();
            }
        int full = CalibrationTable.FullEncoderOptionOf(costs) * perEncoder + (perEncoder - 1);
        double[] fullMetric = raw[full];
        var rel = new double[raw.Length][];
        for (int i = 0; i < raw.Length; i++)
        {
            rel[i] = new double[t];
            for (int j = 0; j < t; j++)
            {
                double m = raw[i][j];
                if (!double.IsFinite(m)) throw new ArgumentException($"Metric of task {j} is {m}.", nameof(evaluate));
                if (higherIsBetter[j])
                {
                    if (!(fullMetric[j] > 0)) throw new ArgumentException($"Task {j}'s full-configuration metric is {fullMetric[j]}.", nameof(evaluate));
                    rel[i][j] = m / fullMetric[j];
                }
                else
                {
                    if (!(m > 0)) throw new ArgumentException($"Lower-is-better metric of task {j} is {m}.", nameof(evaluate));
                    rel[i][j] = fullMetric[j] / m;
                }
            }
        }
        return new ExhaustiveCalibration(rel, t, w, eCount);
    }

    /// <summary>Relative performance (fraction of full) of task <paramref name="task"/> measured on configuration (e, d).</summary>
    /// <exception cref="ArgumentException">Wrong number of decoder widths.</exception>
    public double Relative(int task, int encoderOption, IReadOnlyList<int> decoderWidthIndices)
    {
        if (decoderWidthIndices.Count != _tasks) throw new ArgumentException($"{decoderWidthIndices.Count} widths for {_tasks} tasks.", nameof(decoderWidthIndices));
        int k = 0;
        for (int t = _tasks - 1; t >= 0; t--) k = k * _widths + decoderWidthIndices[t];
        return _relative[encoderOption * _relative.Length / EncoderOptionCount + k][task];
    }

    /// <summary>
    /// Largest absolute difference, over every configuration and task, between the exhaustively measured relative
    /// performance P_t(c) and the per-factor table's P_t(e, d_t) (fractions of full). Exactly 0 for a deterministic
    /// evaluator whose task t depends only on (e, d_t); positive when decoders interact.
    /// </summary>
    /// <exception cref="ArgumentException">The tables have different shapes.</exception>
    public double MaxAbsoluteError(CalibrationTable perFactor)
    {
        ArgumentNullException.ThrowIfNull(perFactor);
        if (perFactor.TaskCount != _tasks || perFactor.WidthCount != _widths || perFactor.EncoderOptionCount != EncoderOptionCount)
            throw new ArgumentException("The per-factor table has a different shape.", nameof(perFactor));
        int perEncoder = _relative.Length / EncoderOptionCount;
        var d = new int[_tasks];
        double max = 0;
        for (int e = 0; e < EncoderOptionCount; e++)
            for (int k = 0; k < perEncoder; k++)
            {
                Decode(k, _widths, d);
                for (int t = 0; t < _tasks; t++)
                    max = Math.Max(max, Math.Abs(_relative[e * perEncoder + k][t] - perFactor.Relative(t, e, d[t])));
            }
        return max;
    }

    private static void Decode(int k, int w, int[] d)
    {
        for (int t = 0; t < d.Length; t++) { d[t] = k % w; k /= w; }
    }
}
