using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Control;

/// <summary>Random synthetic tables for controller tests.</summary>
internal static class ControlTestTables
{
    /// <summary>Encoder options {0.5, 0.75, 1.0}, decoder width set {0.25, 0.5, 0.75, 1} (or
    /// <paramref name="decoderWidths"/>), random MACs (increasing in width) and random relative metrics (noisy, not
    /// monotone in width).</summary>
    public static (CostTable Costs, CalibrationTable Calibration) Random(int tasks, int seed, WidthSet? decoderWidths = null)
    {
        var rng = new Random(seed);
        WidthSet widths = decoderWidths ?? WidthSet.Default;
        int w = widths.Count;
        double[][] options = [[0.5], [0.75], [1.0]];
        long[] enc = [1_000_000 + rng.Next(100_000), 2_000_000 + rng.Next(100_000), 4_000_000];
        var dec = new long[tasks][][];
        var metric = new double[tasks][][];
        var higher = new bool[tasks];
        for (int t = 0; t < tasks; t++)
        {
            long b = 100_000 + rng.Next(900_000);
            dec[t] = new long[3][];
            metric[t] = new double[3][];
            higher[t] = rng.Next(3) != 0;
            for (int e = 0; e < 3; e++)
            {
                dec[t][e] = new long[w];
                metric[t][e] = new double[w];
                for (int d = 0; d < w; d++)
                {
                    dec[t][e][d] = (long)(b * options[e][0] * widths[d]) + rng.Next(1000);
                    double q = 0.4 + 0.2 * e + (w == 4 ? 0.1 * d : 0.3 * d / (w - 1)) + 0.08 * rng.NextDouble();
                    metric[t][e][d] = higher[t] ? q : 1.0 / q;
                }
            }
        }
        var names = Enumerable.Range(0, tasks).Select(t => "t" + t).ToArray();
        var costs = new CostTable(widths, names, options, enc, dec);
        return (costs, new CalibrationTable(names, higher, widths, metric, 2));
    }

    public static int[] Widths(SearchResult r) => r.DecoderWidthIndices.ToArray();
}
