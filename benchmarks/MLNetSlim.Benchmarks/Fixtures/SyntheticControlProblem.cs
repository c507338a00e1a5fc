using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.Fixtures;

/// <summary>
/// A synthetic, seeded slimmable multi-task network description for benchmarks, demos and tests of the controller:
/// encoder options = the (encoder) width set (one uniform multiplier), decoders on the decoder width set (default: the
/// same set), encoder MACs = 4e6 w_e^2, decoder t's MACs =
/// round(b_t (w_e w_d + 0.3 w_d^2)) with b_t drawn in [2e5, 1e6], and task t's metric a smooth function of (w_e, d_t)
/// only (so decoders are independent): accuracy-like a_t (1 - u_t (1 - w_e)^1.5 - v_t (1 - w_d)^1.2) for
/// higher-is-better tasks, RMSE-like r_t (1 + u_t (1 - w_e)^1.5 + v_t (1 - w_d)^1.2) for every third task.
/// Optional multiplicative noise makes the table non-monotone in the width.
/// </summary>
internal sealed class SyntheticControlProblem
{
    private readonly double[] _a, _u, _v;

    private SyntheticControlProblem(CostTable costs, bool[] higher, double[] a, double[] u, double[] v, double noise, int seed)
    {
        Costs = costs;
        HigherIsBetter = higher;
        _a = a;
        _u = u;
        _v = v;
        var rng = new Random(seed ^ 0x5A5A);
        Calibration = CalibrationTable.Calibrate(costs, higher, (e, d) =>
        {
            double[] m = Evaluate(e, Enumerable.Repeat(d, costs.TaskCount).ToArray());
            if (noise > 0)
                for (int t = 0; t < m.Length; t++)
                    if (!(e == costs.EncoderOptionCount - 1 && d == costs.DecoderWidths.Count - 1)) m[t] *= 1 + noise * (2 * rng.NextDouble() - 1);
            return m;
        });
    }

    /// <summary>The synthetic cost table.</summary>
    public CostTable Costs { get; }

    /// <summary>The per-factor calibration of the synthetic metrics.</summary>
    public CalibrationTable Calibration { get; }

    /// <summary>Per task: true when higher is better.</summary>
    public IReadOnlyList<bool> HigherIsBetter { get; }

    /// <summary>Creates a problem.</summary>
    /// <param name="taskCount">Number of tasks, at least 1.</param>
    /// <param name="seed">Seed of the random coefficients.</param>
    /// <param name="widths">Width set (default {0.25, 0.5, 0.75, 1}): the encoder options, and the decoders' widths
    /// when <paramref name="decoderWidths"/> is null.</param>
    /// <param name="noise">Relative noise amplitude on the calibration metrics (0 = none; e.g. 0.02).</param>
    /// <param name="decoderWidths">A separate decoder width set, or null for <paramref name="widths"/>.</param>
    /// <exception cref="ArgumentOutOfRangeException">Fewer than 1 task, more than 64, or negative noise.</exception>
    public static SyntheticControlProblem Create(int taskCount, int seed, WidthSet? widths = null, double noise = 0, WidthSet? decoderWidths = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(taskCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(taskCount, 64);
        if (!(noise >= 0) || noise > 0.5) throw new ArgumentOutOfRangeException(nameof(noise), noise, "Must be in [0, 0.5].");
        widths ??= WidthSet.Default;
        WidthSet dw = decoderWidths ?? widths;
        var rng = new Random(seed);
        int w = widths.Count;
        double[][] options = widths.Multipliers.Select(x => new[] { x }).ToArray();
        long[] enc = widths.Multipliers.Select(x => (long)Math.Round(4e6 * x * x)).ToArray();
        var dec = new long[taskCount][][];
        var higher = new bool[taskCount];
        double[] a = new double[taskCount], u = new double[taskCount], v = new double[taskCount];
        for (int t = 0; t < taskCount; t++)
        {
            double b = 2e5 + 8e5 * rng.NextDouble();
            dec[t] = new long[w][];
            for (int e = 0; e < w; e++)
            {
                dec[t][e] = new long[dw.Count];
                for (int d = 0; d < dw.Count; d++)
                    dec[t][e][d] = (long)Math.Round(b * (widths[e] * dw[d] + 0.3 * dw[d] * dw[d]));
            }
            higher[t] = t % 3 != 2;
            a[t] = higher[t] ? 0.5 + 0.45 * rng.NextDouble() : 0.3 + rng.NextDouble();
            u[t] = 0.05 + 0.3 * rng.NextDouble();
            v[t] = 0.05 + 0.5 * rng.NextDouble();
        }
        var names = Enumerable.Range(0, taskCount).Select(t => "task" + t.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        return new SyntheticControlProblem(new CostTable(dw, names, options, enc, dec), higher, a, u, v, noise, seed);
    }

    /// <summary>Noise-free metrics of every task in configuration (e, d): task t depends only on (e, d_t).</summary>
    /// <exception cref="ArgumentException">Wrong number of widths.</exception>
    public double[] Evaluate(int encoderOption, IReadOnlyList<int> decoderWidthIndices)
    {
        if (decoderWidthIndices.Count != Costs.TaskCount) throw new ArgumentException("One width per task.", nameof(decoderWidthIndices));
        double we = Costs.EncoderOption(encoderOption)[0];
        var m = new double[Costs.TaskCount];
        for (int t = 0; t < m.Length; t++)
        {
            double wd = Costs.DecoderWidths[decoderWidthIndices[t]];
            double drop = _u[t] * Math.Pow(1 - we, 1.5) + _v[t] * Math.Pow(1 - wd, 1.2);
            m[t] = HigherIsBetter[t] ? _a[t] * (1 - drop) : _a[t] * (1 + drop);
        }
        return m;
    }
}
