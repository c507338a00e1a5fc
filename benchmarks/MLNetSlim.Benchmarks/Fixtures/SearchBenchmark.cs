using System.Diagnostics;
using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.Fixtures;

/// <summary>Throughput and per-query latency of a controller's search.</summary>
/// <param name="Controller">Controller name.</param>
/// <param name="Tasks">Number of tasks.</param>
/// <param name="Widths">Decoder width set size.</param>
/// <param name="EncoderOptions">Number of encoder options.</param>
/// <param name="Solver">"enumeration" or "grid-dp" (for the ECMT search), else "n/a".</param>
/// <param name="ConstructionMs">Time to construct the controller (precomputation), ms.</param>
/// <param name="Queries">Timed queries.</param>
/// <param name="QueriesPerSecond">Timed queries / total timed wall time.</param>
/// <param name="P50Ms">Median per-query latency, ms.</param>
/// <param name="P99Ms">99th percentile per-query latency, ms.</param>
/// <param name="MaxMs">Largest per-query latency, ms.</param>
/// <param name="CpuP50Ms">Median per-query CPU time of the querying thread, ms (Linux CLOCK_THREAD_CPUTIME_ID; NaN
/// elsewhere): wall time minus the time the thread was preempted, so it stays meaningful on a loaded machine.</param>
/// <param name="CpuP99Ms">99th percentile of the per-query thread CPU time, ms (NaN off Linux).</param>
internal sealed record SearchBenchmarkResult(string Controller, int Tasks, int Widths, int EncoderOptions, string Solver,
    double ConstructionMs, int Queries, double QueriesPerSecond, double P50Ms, double P99Ms, double MaxMs,
    double CpuP50Ms = double.NaN, double CpuP99Ms = double.NaN);

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
    /// <param name="decoderWidths">A separate decoder width set (null: <paramref name="widths"/>).</param>
    public static SearchBenchmarkResult Run(int taskCount, int queries = 20_000, int warmup = 2_000, int seed = 1, SearchOptions? options = null,
        WidthSet? widths = null, WidthSet? decoderWidths = null)
    {
        SyntheticControlProblem problem = SyntheticControlProblem.Create(taskCount, seed, widths, decoderWidths: decoderWidths);
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
            + Enumerable.Range(0, c.TaskCount).Sum(t => Enumerable.Range(0, c.DecoderWidths.Count).Min(d => c.DecoderMacs(t, e, d))));
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
        bool cpu = ThreadCpuClock.Available;
        var cpuTimes = new double[cpu ? queries : 0];
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < queries; i++)
        {
            long c0 = cpu ? ThreadCpuClock.Nanoseconds() : 0;
            long t0 = Stopwatch.GetTimestamp();
            controller.Search(budgets[warmup + i], prefs[warmup + i]);
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (cpu) cpuTimes[i] = (ThreadCpuClock.Nanoseconds() - c0) / 1e6;
        }
        double totalMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        Array.Sort(times);
        Array.Sort(cpuTimes);
        string solver = controller is ConfigurationSearch s ? (s.UsesEnumeration ? "enumeration" : "grid-dp") : "n/a";
        return new SearchBenchmarkResult(controller.Name, tCount, controller.Costs.DecoderWidths.Count, controller.Costs.EncoderOptionCount, solver,
            constructionMs, queries, queries / (totalMs / 1000), Percentile(times, 0.50), Percentile(times, 0.99), times[^1],
            cpu ? Percentile(cpuTimes, 0.50) : double.NaN, cpu ? Percentile(cpuTimes, 0.99) : double.NaN);
    }

    private static double Percentile(double[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Floor(q * sorted.Length))];
}

/// <summary>The calling thread's CPU time (Linux <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>): time the thread ran,
/// excluding time it was preempted. Includes the clock call's own cost (a system call, about 0.2-1 microseconds).</summary>
internal static class ThreadCpuClock
{
    private const int ClockThreadCpuTimeId = 3;

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    /// <summary>True on 64-bit Linux, where the clock is read.</summary>
    public static bool Available { get; } = OperatingSystem.IsLinux() && Environment.Is64BitProcess && Probe();

    private static bool Probe()
    {
        try
        {
            return ClockGetTime(ClockThreadCpuTimeId, out _) == 0;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>The thread's CPU time, ns.</summary>
    public static long Nanoseconds() => ClockGetTime(ClockThreadCpuTimeId, out TimeSpec t) == 0 ? t.Seconds * 1_000_000_000 + t.Nanoseconds : 0;
}
