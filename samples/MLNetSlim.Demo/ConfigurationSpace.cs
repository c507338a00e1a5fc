using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.Demo;

/// <summary>One width configuration with its exact cost and per-task metric.</summary>
/// <param name="Configuration">The configuration.</param>
/// <param name="EncoderOption">Its encoder option index.</param>
/// <param name="DecoderWidthIndices">Its decoder width indices, one per task.</param>
/// <param name="Macs">Exact MACs per image.</param>
/// <param name="FractionOfFull">MACs / full MACs.</param>
/// <param name="Metrics">Per task, the raw metric (accuracy in [0, 1] for classification) from the table.</param>
public sealed record ConfigurationPoint(WidthConfiguration Configuration, int EncoderOption, IReadOnlyList<int> DecoderWidthIndices,
    long Macs, double FractionOfFull, IReadOnlyList<double> Metrics);

/// <summary>Pure helpers over the configuration space (no Torch, no I/O); linked into the test project.</summary>
public static class ConfigurationSpace
{
    /// <summary>
    /// Every configuration of the space (E x W^T), with exact MACs and each task's metric read from
    /// <paramref name="table"/>: task t's metric in (e, d) is <c>table.Metric(t, e, d_t)</c>, which is exact because task
    /// t's output depends only on the encoder option and its own decoder width (docs/control.md §1). Ordered by encoder
    /// option, then decoder widths with task 0 varying fastest.
    /// </summary>
    /// <exception cref="ArgumentException">The table does not match the cost table.</exception>
    public static IReadOnlyList<ConfigurationPoint> Enumerate(CostTable costs, CalibrationTable table)
    {
        ArgumentNullException.ThrowIfNull(costs);
        ArgumentNullException.ThrowIfNull(table);
        table.EnsureMatches(costs);
        int tCount = costs.TaskCount, wCount = costs.DecoderWidths.Count;
        long full = costs.FullMacs;
        int perEncoder = checked((int)Math.Pow(wCount, tCount));
        var points = new List<ConfigurationPoint>(costs.EncoderOptionCount * perEncoder);
        for (int e = 0; e < costs.EncoderOptionCount; e++)
            for (int k = 0; k < perEncoder; k++)
            {
                var d = new int[tCount];
                int kk = k;
                for (int t = 0; t < tCount; t++) { d[t] = kk % wCount; kk /= wCount; }
                WidthConfiguration c = costs.Configuration(e, d);
                long macs = costs.Macs(c);
                points.Add(new ConfigurationPoint(c, e, d, macs, (double)macs / full,
                    Enumerable.Range(0, tCount).Select(t => table.Metric(t, e, d[t])).ToArray()));
            }
        return points;
    }

    /// <summary>
    /// The cost/quality Pareto front of one task: points for which no other point has lower or equal cost and a
    /// strictly higher value, or strictly lower cost and an equal value. Sorted by ascending cost (so the values
    /// strictly increase along it); of points with identical cost and value, the first is kept.
    /// </summary>
    /// <typeparam name="T">The point type.</typeparam>
    /// <param name="points">The points.</param>
    /// <param name="cost">Cost of a point (lower is better).</param>
    /// <param name="value">Quality of a point (higher is better).</param>
    public static IReadOnlyList<T> ParetoFront<T>(IEnumerable<T> points, Func<T, double> cost, Func<T, double> value)
    {
        ArgumentNullException.ThrowIfNull(points);
        // Ascending cost, and for equal cost descending value: a point joins the front when it beats every cheaper one.
        var sorted = points.Select((p, i) => (P: p, I: i)).OrderBy(x => cost(x.P)).ThenByDescending(x => value(x.P)).ThenBy(x => x.I);
        var front = new List<T>();
        double best = double.NegativeInfinity;
        foreach ((T p, _) in sorted)
        {
            double v = value(p);
            if (v > best)
            {
                front.Add(p);
                best = v;
            }
        }
        return front;
    }

    /// <summary>
    /// The showcase configurations: full, smallest, and two mixed ones that give the decoders opposite widths
    /// (encoder at the second-smallest width with decoders alternating largest/smallest, and the encoder at the
    /// second-largest width with decoders alternating smallest/largest; for 2 tasks at {0.25, .., 1}:
    /// "enc=0.5 dec=1,0.25" and "enc=0.75 dec=0.25,1"). Duplicates are dropped.
    /// </summary>
    public static IReadOnlyList<(string Name, WidthConfiguration Configuration)> Showcase(WidthSet widths, int taskCount) =>
        Showcase(widths, widths, taskCount);

    /// <summary>The showcase configurations of a network whose decoders run on their own width set (the encoder's
    /// widths from <paramref name="encoderWidths"/>, the decoders' smallest and largest from
    /// <paramref name="decoderWidths"/>).</summary>
    public static IReadOnlyList<(string Name, WidthConfiguration Configuration)> Showcase(WidthSet encoderWidths, WidthSet decoderWidths, int taskCount)
    {
        ArgumentNullException.ThrowIfNull(encoderWidths);
        ArgumentNullException.ThrowIfNull(decoderWidths);
        ArgumentOutOfRangeException.ThrowIfLessThan(taskCount, 1);
        double lo = decoderWidths.Smallest, hi = decoderWidths.Largest;
        double encLow = encoderWidths[Math.Min(1, encoderWidths.Count - 1)], encHigh = encoderWidths[Math.Max(0, encoderWidths.Count - 2)];
        double[] Alternate(double first, double second) => Enumerable.Range(0, taskCount).Select(t => t % 2 == 0 ? first : second).ToArray();
        var list = new List<(string, WidthConfiguration)>
        {
            ("full", WidthConfiguration.Uniform(1.0, taskCount)),
            ("smallest", new WidthConfiguration([encoderWidths.Smallest], Enumerable.Repeat(lo, taskCount))),
            ("mixed A", new WidthConfiguration(encLow, Alternate(hi, lo))),
            ("mixed B", new WidthConfiguration(encHigh, Alternate(lo, hi))),
        };
        return list.DistinctBy(x => x.Item2).ToArray();
    }

    /// <summary>The preference vectors of the budget x preference table for 2 tasks named as given (first task heavy,
    /// equal, second task heavy: 0.9/0.1, 0.5/0.5, 0.1/0.9); for other task counts: each task heavy (0.9 on it, the
    /// rest shared) and equal.</summary>
    public static IReadOnlyList<(string Name, double[] Preferences)> NamedPreferences(IReadOnlyList<string> taskNames)
    {
        ArgumentNullException.ThrowIfNull(taskNames);
        int n = taskNames.Count;
        if (n == 1) return [("only", [1.0])];
        var list = new List<(string, double[])>();
        double[] Heavy(int k) => Enumerable.Range(0, n).Select(t => t == k ? 0.9 : 0.1 / (n - 1)).ToArray();
        list.Add(($"{taskNames[0]}-heavy", Heavy(0)));
        list.Add(("equal", Enumerable.Repeat(1.0 / n, n).ToArray()));
        for (int k = 1; k < n; k++) list.Add(($"{taskNames[k]}-heavy", Heavy(k)));
        return list;
    }
}
