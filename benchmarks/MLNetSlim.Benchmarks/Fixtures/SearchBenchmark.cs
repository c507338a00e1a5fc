using System.Diagnostics;
using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.Fixtures;

/// <summary>Throughput and per-query latency of a controller's search.</summary>
/// <param name="Controller">Controller name.</param>
/// <param name="Tasks">Number of tasks.</param>
/// <param name="Widths">Width set size.</param>
/// <param name="EncoderOptions">Number of encoder options.</param>
/// <param name="Solver">"enumeration" or "grid-dp" (for the ECMT search), else "n/a".</param>
/// <param name="ConstructionMs">Time to construct the controller (precomputation), ms.</param>
/// <param name="Queries">Timed queries.</param>
/// <param name="QueriesPerSecond">Timed queries / total timed wall time.</param>
/// <param name="P50Ms">Median per-query latency, ms.</param>
/// <param name="P99Ms">99th percentile per-query latency, ms.</param>
/// <param name="MaxMs">Largest per-query latency, ms.</param>
internal sealed record SearchBenchmarkResult(string Controller, int Tasks, int Widths, int EncoderOptions, string Solver,
    double ConstructionMs, int Queries, double QueriesPerSecond, double P50Ms, double P99Ms, double MaxMs);

/// <summary>
/// Micro-benchmark of the runtime search: random budgets (fractions between the smallest feasible and 1) and
/// Dirichlet(0.2) preferences, all generated before timing; warm-up queries first; each query timed with
/// <see cref="Stopwatch"/>. Not a unit test: figures depend on the machine.
/// </summary>
internal static class SearchBenchmark
{
    /// <summary>Benchmarks the ECMT search on a synthetic problem with <paramref name="taskCount"/> tasks
    /// (<see cref="SyntheticControlProblem"/>, 4 widths, 4 encoder options).</summary>
    /// <param name="taskCount">Number of tasks (e.g. 2 or 20).</param>
    /// <param name="queries">Timed queries (default 20000).</param>
    /// <param name="warmup">Untimed warm-up queries (default 2000).</param>
    /// <param name="seed">Seed of the problem and the queries.</param>
    /// <param name="options">Search options (null for the defaults), e.g. to compare grid sizes.</param>
    /// <exception cref="ArgumentOutOfRangeException">Counts or options out of range.</exception>
    /// <param name="widths">Width set of the problem (null: {0.25, 0.5, 0.75, 1}); also its encoder options.</param>
    public static SearchBenchmarkResult Run(int taskCount, int queries = 20_000, int warmup = 2_000, int seed = 1, SearchOptions? options = null,
        WidthSet? widths = null)
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(taskCount, seed, widths);
        var sw = Stopwatch.StartNew();
        var search = new ConfigurationSearch(problem.Costs, problem.Calibration, options: options);
        double constructionMs = sw.Elapsed.TotalMilliseconds;
        return Run(search, queries, warmup, seed, constructionMs);
    }

    /// <summary>Benchmarks any controller with fraction-of-full-MACs budgets.</summary>
    /// <param name="controller">The controller.</param>
    /// <param name="queries">Timed queries, at least 1.</param>
    /// <param name="warmup">Untimed warm-up queries, at least 0.</param>
    /// <param name="seed">Seed of the queries.</param>
    /// <param name="constructionMs">Construction time to report, ms (NaN if unknown).</param>
    /// <exception cref="ArgumentNullException"><paramref name="controller"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Counts out of range.</exception>
    public static SearchBenchmarkResult Run(IConfigurationController controller, int queries = 20_000, int warmup = 2_000, int seed = 1,
        double constructionMs = double.NaN)
    {
        ArgumentNullException.ThrowIfNull(controller);
        ArgumentOutOfRangeException.ThrowIfLessThan(queries, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        int tCount = controller.Costs.TaskCount;
        CostTable c = controller.Costs;
        long smallest = Enumerable.Range(0, c.EncoderOptionCount).Min(e => c.EncoderMacs(e)
            + Enumerable.Range(0, c.TaskCount).Sum(t => Enumerable.Range(0, c.Widths.Count).Min(d => c.DecoderMacs(t, e, d))));
        double minFraction = Math.Min(1.0, (smallest + 1.0) / c.FullMacs);
        var rng = new Random(seed);
        int total = queries + warmup;
        var budgets = new Budget[total];
        var prefs = new double[total][];
        for (int i = 0; i < total; i++)
        {
            budgets[i] = Budget.FractionOfFull(minFraction + (1 - minFraction) * rng.NextDouble());
            prefs[i] = Dirichlet.Sample(rng, tCount, 0.2);
        }
        for (int i = 0; i < warmup; i++) controller.Search(budgets[i], prefs[i]);
        var times = new double[queries];
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < queries; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            controller.Search(budgets[warmup + i], prefs[warmup + i]);
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        double totalMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        Array.Sort(times);
        string solver = controller is ConfigurationSearch s ? (s.UsesEnumeration ? "enumeration" : "grid-dp") : "n/a";
        return new SearchBenchmarkResult(controller.Name, tCount, controller.Costs.Widths.Count, controller.Costs.EncoderOptionCount, solver,
            constructionMs, queries, queries / (totalMs / 1000), Percentile(times, 0.50), Percentile(times, 0.99), times[^1]);
    }

    private static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(q * sorted.Length))];
}
