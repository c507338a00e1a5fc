using System.Text;
using Spectre.Console;
using static MLNetSlim.Benchmarks.ReportFiles;
using MLNetSlim.Control;
using MLNetSlim.Fixtures;

namespace MLNetSlim.Benchmarks;

/// <summary>The search micro-benchmark's report.</summary>
internal sealed record SearchReport(MachineInfo Machine, int Queries, int Warmup, double TargetP99Ms, IReadOnlyList<SearchBenchmarkResult> Results)
{
    /// <summary>True when every problem's p99 is under the target.</summary>
    public bool MeetsTarget => Results.All(r => r.P99Ms < TargetP99Ms);
}

/// <summary>`search`: throughput and per-query latency of the budget/preference search (Evaluation.SearchBenchmark)
/// on synthetic problems with 2 and 20 tasks.</summary>
public static class SearchCommand
{
    /// <summary>Runs the benchmark, prints it, writes search.json and search.md to <paramref name="outDir"/>.</summary>
    public static int Run(string[] args, int queries, int warmup, string outDir)
    {
        MachineInfo machine = MachineInfo.Current(args);
        var results = new List<SearchBenchmarkResult>();
        // Encoder options {0.25, 0.5, 0.75, 1} throughout; decoder width sets: the same 4 widths, 0.25 to 1 in steps of
        // 1/16 (13) and 0.125 to 1 in steps of 1/32 (29, the main job's default since issue 12).
        MLNetSlim.Architecture.WidthSet Steps(double from, int step, int count) => new(Enumerable.Range(0, count).Select(i => from + (double)i / step).ToArray());
        foreach (MLNetSlim.Architecture.WidthSet decoderWidths in new[] { MLNetSlim.Architecture.WidthSet.Default, Steps(0.25, 16, 13), Steps(0.125, 32, 29) })
            foreach (int tasks in new[] { 2, 20 })
            {
                AnsiConsole.MarkupLine($"[grey]search: {tasks} tasks, {decoderWidths.Count} decoder widths, {queries} timed queries after {warmup} warm-up ...[/]");
                results.Add(SearchBenchmark.Run(tasks, queries, warmup, decoderWidths: decoderWidths));
            }
        var report = new SearchReport(machine, queries, warmup, 1.0, results);

        var table = new Table().AddColumns("tasks", "decoder widths", "solver", "construction ms", "queries/s", "p50 ms", "p99 ms", "max ms",
            "CPU p50 ms", "CPU p99 ms", "p99 < 1 ms");
        foreach (SearchBenchmarkResult r in results)
            table.AddRow(r.Tasks.ToString(), r.Widths.ToString(), r.Solver, F(r.ConstructionMs, "0.0"), F(r.QueriesPerSecond, "0"), F(r.P50Ms, "0.0000"),
                F(r.P99Ms, "0.0000"), F(r.MaxMs, "0.00"), F(r.CpuP50Ms, "0.0000"), F(r.CpuP99Ms, "0.0000"),
                r.P99Ms < report.TargetP99Ms ? "[green]yes[/]" : "[red]NO[/]");
        AnsiConsole.Write(table);

        var md = new StringBuilder()
            .AppendLine("# Search benchmark (budget + preferences -> width configuration)")
            .AppendLine()
            .Append(machine.ToMarkdown())
            .AppendLine()
            .AppendLine($"Synthetic problems (`SyntheticControlProblem`: encoder options {{0.25, 0.5, 0.75, 1}}; decoder width sets of 4 widths (the same), 13 (0.25 to 1 in steps of 1/16) and 29 (0.125 to 1 in steps of 1/32, the main job's default)), `SearchBenchmark.Run`: {queries} timed queries after {warmup} warm-up; random budgets between the smallest feasible and the full MACs, Dirichlet(0.2) preferences. Target: p99 under 1 ms.")
            .AppendLine()
            .AppendLine("| tasks | decoder widths | solver | construction | queries/s | p50 | p99 | max | CPU p50 | CPU p99 | p99 < 1 ms |")
            .AppendLine("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (SearchBenchmarkResult r in results)
            md.AppendLine($"| {r.Tasks} | {r.Widths} | {r.Solver} | {F(r.ConstructionMs, "0.0")} ms | {F(r.QueriesPerSecond, "0")} | {F(r.P50Ms, "0.0000")} ms | {F(r.P99Ms, "0.0000")} ms | {F(r.MaxMs, "0.00")} ms | {F(r.CpuP50Ms, "0.0000")} ms | {F(r.CpuP99Ms, "0.0000")} ms | {(r.P99Ms < report.TargetP99Ms ? "yes" : "NO")} |");
        md.AppendLine().AppendLine("p50 / p99 / max are wall times per query; max latencies are single queries hit by scheduler preemption on a shared machine. " +
            "CPU p50 / p99 are the querying thread's CPU time per query (Linux CLOCK_THREAD_CPUTIME_ID, including the clock call, about 1 microsecond): " +
            "they leave out the time the thread was preempted, so on a loaded machine they show what the search itself costs.");
        (string json, string mdPath) = Write(outDir, "search", report, md.ToString());
        AnsiConsole.MarkupLineInterpolated($"Wrote {json} and {mdPath}. p99 under 1 ms for every problem: {(report.MeetsTarget ? "yes" : "NO")}");
        return 0;
    }
}
