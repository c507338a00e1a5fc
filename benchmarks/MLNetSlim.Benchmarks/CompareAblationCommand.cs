using System.Diagnostics;
using System.Text;
using System.Text.Json;
using MLNetSlim.Architecture;
using MLNetSlim.Data;
using MLNetSlim.Datasets;
using MLNetSlim.Evaluation;
using MLNetSlim.Model;
using MLNetSlim.Training;
using Spectre.Console;
using static MLNetSlim.Benchmarks.ReportFiles;

namespace MLNetSlim.Benchmarks;

/// <summary>One supernet training variant of the issue-12 ablation (mid-width quality).</summary>
/// <param name="Name">Variant name as given on the command line.</param>
/// <param name="SandwichMiddleEncoders">TrainingOptions.SandwichMiddleEncoders.</param>
/// <param name="InplaceDistillationWeight">TrainingOptions.InplaceDistillationWeight.</param>
/// <param name="SandwichRandomCount">TrainingOptions.SandwichRandomCount (k random configurations per step).</param>
/// <param name="SandwichSharedEncoder">TrainingOptions.SandwichSharedEncoder (the k random configurations share one encoder pass).</param>
/// <param name="SandwichFinalEpochExtraCount">TrainingOptions.SandwichFinalEpochExtraCount (random configurations added in the last epoch).</param>
public sealed record AblationVariant(string Name, bool SandwichMiddleEncoders, double InplaceDistillationWeight, int SandwichRandomCount,
    bool SandwichSharedEncoder = false, int SandwichFinalEpochExtraCount = 0)
{
    /// <summary>The variants `compare-ablation --variants` accepts.</summary>
    public static readonly AblationVariant[] Known =
    [
        new("uniform", false, 0, 1), // the defaults before issue 12: encoder drawn from every option, no in-place distillation
        new("middle", true, 0, 1),
        new("inplace", false, 1, 1),
        new("middle+inplace", true, 1, 1),
        new("middle+inplace+k2", true, 1, 2),
        new("middle+inplace2", true, 2, 1),
        new("middle+inplace4", true, 4, 1),
        new("middle+inplace+k2shared", true, 1, 2, SandwichSharedEncoder: true),
        new("middle+inplace+k2final", true, 1, 1, SandwichFinalEpochExtraCount: 1), // the default since issue 12
    ];
}

/// <summary>One variant's supernet, trained and evaluated at the compare benchmark's configurations.</summary>
/// <param name="Variant">The training options that differ from the default.</param>
/// <param name="TrainWallSeconds">Wall time of ModelTrainer.Train (loop, post-statistics, calibration table).</param>
/// <param name="TrainLoopSeconds">The optimisation loop alone.</param>
/// <param name="Configurations">Test accuracy per configuration (no latency).</param>
/// <param name="GapToStaticPoints">Per configuration and task: variant minus the reference run's static twin, in
/// percentage points (negative = behind).</param>
/// <param name="WorstGapPoints">The most negative of <paramref name="GapToStaticPoints"/>.</param>
/// <param name="FullMinusReferenceSupernetPoints">Per task, at the full configuration: variant minus the reference
/// run's supernet.</param>
/// <param name="TrainWallOverReferenceStaticFull">Wall time / the reference run's static full network (cross-run:
/// compare the default variant's ratio with the reference's own).</param>
public sealed record AblationVariantResult(AblationVariant Variant, double TrainWallSeconds, double TrainLoopSeconds,
    IReadOnlyList<ConfigurationResult> Configurations, Dictionary<string, Dictionary<string, double>> GapToStaticPoints,
    double WorstGapPoints, Dictionary<string, double> FullMinusReferenceSupernetPoints, double TrainWallOverReferenceStaticFull);

/// <summary>The `compare-ablation` report (compare-ablation.json).</summary>
public sealed record AblationReport(MachineInfo Machine, string Reference, string ReferenceDateUtc, int Epochs, int TrainImages,
    int CalibrationImages, int TestImages, IReadOnlyList<string> Tasks, IReadOnlyList<AblationVariantResult> Variants, double TotalSeconds);

/// <summary>
/// `compare-ablation`: trains only supernet variants (same data, seed, epochs and evaluated configurations as
/// `compare`) and sets them against the static twins of a reference compare.json, so that a training change for
/// mid-width quality (issue 12) is measured in minutes per variant instead of a whole `compare` run.
/// </summary>
public static class CompareAblationCommand
{
    /// <summary>Runs the listed variants and writes compare-ablation.json and .md.</summary>
    public static int Run(string[] args, string[] variantNames, string referencePath, int epochs, string? data, string outDir, int seed)
    {
        var total = Stopwatch.StartNew();
        MachineInfo machine = MachineInfo.Current(args);
        AblationVariant[] variants = variantNames.Select(n => AblationVariant.Known.FirstOrDefault(v => v.Name == n)
            ?? throw new ArgumentException($"--variants: unknown variant '{n}'; expected one of {string.Join(", ", AblationVariant.Known.Select(v => v.Name))}.")).ToArray();
        if (!File.Exists(referencePath))
            throw new FileNotFoundException($"--reference: no compare report at '{referencePath}' (run `compare` first).", referencePath);
        CompareReport reference = JsonSerializer.Deserialize<CompareReport>(File.ReadAllText(referencePath), JsonOptions)
            ?? throw new InvalidDataException($"--reference: '{referencePath}' is not a compare report.");
        if (reference.Settings.Quick)
            throw new ArgumentException($"--reference: '{referencePath}' is a quick smoke run; use a full compare.json.");

        MultiTaskDataset all = MultiFashionMnist.Load(DataSplit.Train, reference.Settings.TrainCount, seed, data, data);
        MultiTaskDataset test = MultiFashionMnist.Load(DataSplit.Test, reference.Settings.TestCount, seed, data, data);
        (MultiTaskDataset train, MultiTaskDataset calibration) = all.Split(0.1, seed);
        string[] tasks = train.Tasks.Select(t => t.Name).ToArray();
        WidthConfiguration[] configurations = CompareCommand.Configurations.Select(WidthConfiguration.Parse).ToArray();
        ConfigurationResult StaticTwin(string c) => reference.StaticNetworks.First(s => s.Configuration == c);
        ConfigurationResult staticFull = StaticTwin(configurations[3].ToString()); // CompareCommand.Configurations[3] is the full one
        ConfigurationResult referenceFull = reference.Supernet.Configurations.First(c => c.Configuration == staticFull.Configuration);

        var results = new List<AblationVariantResult>();
        foreach (AblationVariant v in variants)
        {
            Log($"training supernet variant {v.Name} ...");
            var options = new ModelOptions
            {
                Training = new TrainingOptions
                {
                    Epochs = epochs, Seed = seed, ProgressEverySteps = 100, PostStatisticsImages = reference.Settings.PostStatisticsImages,
                    SandwichMiddleEncoders = v.SandwichMiddleEncoders, InplaceDistillationWeight = v.InplaceDistillationWeight,
                    SandwichRandomCount = v.SandwichRandomCount, SandwichSharedEncoder = v.SandwichSharedEncoder,
                    SandwichFinalEpochExtraCount = v.SandwichFinalEpochExtraCount,
                },
            };
            double loop = 0;
            var progress = new Progress(p => { if (p.IsEpochEnd) { loop = p.Elapsed.TotalSeconds; Log($"  {v.Name}: {p}"); } });
            var clock = Stopwatch.StartNew();
            using ControllableMultiTaskModel model = ModelTrainer.Train(train, calibration, options, progress);
            double wall = clock.Elapsed.TotalSeconds;
            CostTable costs = model.Costs;
            var rows = configurations.Select(c =>
            {
                double[] acc = model.Evaluate(test, c);
                return new ConfigurationResult(c.ToString(), costs.Macs(c), (double)costs.Macs(c) / costs.FullMacs,
                    tasks.Select((t, k) => (t, acc[k])).ToDictionary(p => p.t, p => p.Item2), null, null);
            }).ToArray();
            var gaps = rows.ToDictionary(r => r.Configuration,
                r => tasks.ToDictionary(t => t, t => 100 * (r.Accuracy[t] - StaticTwin(r.Configuration).Accuracy[t])));
            ConfigurationResult full = rows.First(r => r.Configuration == staticFull.Configuration);
            var result = new AblationVariantResult(v, wall, loop, rows, gaps, gaps.Values.SelectMany(g => g.Values).Min(),
                tasks.ToDictionary(t => t, t => 100 * (full.Accuracy[t] - referenceFull.Accuracy[t])),
                wall / (staticFull.TrainWallSeconds ?? double.NaN));
            results.Add(result);
            Log($"  {v.Name}: {wall:0.0} s wall, worst gap to a static twin {result.WorstGapPoints:+0.00;-0.00} points");
        }

        var report = new AblationReport(machine, referencePath, reference.Machine.DateUtc, epochs, train.Count, calibration.Count, test.Count,
            tasks, results, total.Elapsed.TotalSeconds);
        (string json, string md) = Write(outDir, "compare-ablation", report, Markdown(report, reference));
        Log($"wrote {json} and {md}; total {report.TotalSeconds:0.0} s");
        return 0;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNameCaseInsensitive = true };

    private static void Log(string message) => AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss}[/] {message}");

    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    private static string RandomCount(AblationVariant v) =>
        $"{v.SandwichRandomCount}" + (v.SandwichSharedEncoder ? " (one shared encoder pass)" : "")
        + (v.SandwichFinalEpochExtraCount > 0 ? $" ({v.SandwichRandomCount + v.SandwichFinalEpochExtraCount} in the last epoch)" : "");

    private static string Markdown(AblationReport r, CompareReport reference)
    {
        var md = new StringBuilder();
        md.AppendLine("# Compare ablation — supernet training variants against the static twins (issue 12)");
        md.AppendLine().Append(r.Machine.ToMarkdown()).AppendLine();
        md.AppendLine($"Each variant is a supernet trained by `ModelTrainer.Train` on the same {r.TrainImages} Multi-(Fashion+MNIST) images, " +
            $"{r.Epochs} epoch(s), seed and batch-norm post-statistics as `compare`, and evaluated on the same {r.TestImages} test images. " +
            $"Static twins and the reference supernet come from `{r.Reference}` (run {r.ReferenceDateUtc}), whose static full network trained in " +
            $"{F(reference.StaticNetworks.First(s => s.Configuration == "enc=1 dec=1,1").TrainWallSeconds ?? double.NaN, "0.0")} s. Whole run {F(r.TotalSeconds, "0")} s.");
        md.AppendLine();
        var head = new List<string> { "configuration" };
        foreach (AblationVariantResult v in r.Variants) head.AddRange(r.Tasks.Select(t => $"{v.Variant.Name} {t}"));
        head.AddRange(r.Tasks.Select(t => $"static {t}"));
        md.AppendLine("Accuracy (%) per configuration; in brackets the gap to the static twin in points.");
        md.AppendLine();
        md.AppendLine("| " + string.Join(" | ", head) + " |");
        md.AppendLine("|" + string.Concat(head.Select((_, i) => i == 0 ? "---|" : "---:|")));
        foreach (string c in CompareCommand.Configurations)
        {
            var cells = new List<string> { $"`{c}`" };
            foreach (AblationVariantResult v in r.Variants)
            {
                ConfigurationResult row = v.Configurations.First(x => x.Configuration == c);
                cells.AddRange(r.Tasks.Select(t => $"{F(100 * row.Accuracy[t])} ({F(v.GapToStaticPoints[c][t], "+0.00;-0.00;0.00")})"));
            }
            ConfigurationResult st = reference.StaticNetworks.First(x => x.Configuration == c);
            cells.AddRange(r.Tasks.Select(t => F(100 * st.Accuracy[t])));
            md.AppendLine("| " + string.Join(" | ", cells) + " |");
        }
        md.AppendLine();
        md.AppendLine("| variant | middle encoders | in-place KD weight | k random | wall s | loop s | wall / reference static full | worst gap (points) | full vs reference supernet (points) |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (AblationVariantResult v in r.Variants)
            md.AppendLine($"| {v.Variant.Name} | {v.Variant.SandwichMiddleEncoders} | {F(v.Variant.InplaceDistillationWeight, "0.##")} | {RandomCount(v.Variant)} | " +
                $"{F(v.TrainWallSeconds, "0.0")} | {F(v.TrainLoopSeconds, "0.0")} | {F(v.TrainWallOverReferenceStaticFull)}x | {F(v.WorstGapPoints, "+0.00;-0.00;0.00")} | " +
                string.Join(", ", v.FullMinusReferenceSupernetPoints.Select(p => $"{p.Key} {F(p.Value, "+0.00;-0.00;0.00")}")) + " |");
        return md.ToString();
    }
}
