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
        // The default width set (4 widths) and the finer one measured for issue 12 (7 widths, steps of 1/8).
        var finer = new MLNetSlim.Architecture.WidthSet(0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0);
        foreach (MLNetSlim.Architecture.WidthSet widths in new[] { MLNetSlim.Architecture.WidthSet.Default, finer })
            foreach (int tasks in new[] { 2, 20 })
            {
                AnsiConsole.MarkupLine($"[grey]search: {tasks} tasks, {widths.Count} widths, {queries} timed queries after {warmup} warm-up ...[/]");
                results.Add(SearchBenchmark.Run(tasks, queries, warmup, widths: widths));
            }
        var report = new SearchReport(machine, queries, warmup, 1.0, results);

        var table = new Table().AddColumns("tasks", "widths", "solver", "construction ms", "queries/s", "p50 ms", "p99 ms", "max ms", "p99 < 1 ms");
        foreach (SearchBenchmarkResult r in results)
            table.AddRow(r.Tasks.ToString(), r.Widths.ToString(), r.Solver, F(r.ConstructionMs, "0.0"), F(r.QueriesPerSecond, "0"), F(r.P50Ms, "0.0000"),
                F(r.P99Ms, "0.0000"), F(r.MaxMs, "0.00"), r.P99Ms < report.TargetP99Ms ? "[green]yes[/]" : "[red]NO[/]");
        AnsiConsole.Write(table);

        var md = new StringBuilder()
            .AppendLine("# Search benchmark (budget + preferences -> width configuration)")
            .AppendLine()
            .Append(machine.ToMarkdown())
            .AppendLine()
            .AppendLine($"Synthetic problems (`SyntheticControlProblem`: the width set is also the encoder options; 4 widths {{0.25, 0.5, 0.75, 1}} and 7 widths {{0.25, 0.375, .., 1}}), `SearchBenchmark.Run`: {queries} timed queries after {warmup} warm-up; random budgets between the smallest feasible and the full MACs, Dirichlet(0.2) preferences. Target: p99 under 1 ms.")
            .AppendLine()
            .AppendLine("| tasks | widths | solver | construction | queries/s | p50 | p99 | max | p99 < 1 ms |")
            .AppendLine("|---:|---:|---|---:|---:|---:|---:|---:|---|");
        foreach (SearchBenchmarkResult r in results)
            md.AppendLine($"| {r.Tasks} | {r.Widths} | {r.Solver} | {F(r.ConstructionMs, "0.0")} ms | {F(r.QueriesPerSecond, "0")} | {F(r.P50Ms, "0.0000")} ms | {F(r.P99Ms, "0.0000")} ms | {F(r.MaxMs, "0.00")} ms | {(r.P99Ms < report.TargetP99Ms ? "yes" : "NO")} |");
        md.AppendLine().AppendLine("Max latencies are single queries hit by scheduler preemption on a shared machine; p99 is the figure of merit.");
        (string json, string mdPath) = Write(outDir, "search", report, md.ToString());
        AnsiConsole.MarkupLineInterpolated($"Wrote {json} and {mdPath}. p99 under 1 ms for every problem: {(report.MeetsTarget ? "yes" : "NO")}");
        return 0;
    }
}
