using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Training;
using Spectre.Console;
using MLNetSlim.Datasets;
using MLNetSlim.Model;
using MLNetSlim.SampleData;

namespace MLNetSlim.Demo;

/// <summary>Where and on what the demo ran.</summary>
public sealed record MachineInfo(int Cores, string Os, string CpuModel, string Runtime, int TorchThreads, string Date);

/// <summary>Training summary.</summary>
public sealed record TrainingInfo(string Backbone, int Epochs, int TrainImages, int TestImages, int Seed, double DistillationWeight,
    int SandwichRandomCount, int BatchSize, double LearningRate,
    double WallSeconds, IReadOnlyList<string> EpochLines, long FullMacs, long SmallestMacs, int EncoderOptions, IReadOnlyList<double> Widths,
    IReadOnlyList<double>? DecoderWidths = null, int SandwichFinalEpochExtraCount = 0);

/// <summary>report.json.</summary>
internal sealed record DemoReport(string Command, string CommandLine, MachineInfo Machine, TrainingInfo? Training, ReloadCheck? Reload,
    IReadOnlyList<string> Tasks, AnalysisResult Analysis, double AnalysisWallSeconds, double TotalWallSeconds, IReadOnlyList<string> Files);

/// <summary>fetch-data.</summary>
public static class FetchCommand
{
    /// <summary>Runs it.</summary>
    public static async Task<int> ExecuteAsync(string? data, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        DataFolders folders = await Cli.EnsureDataAsync(data, ct).ConfigureAwait(false);
        var table = new Table().Border(TableBorder.Rounded).AddColumn("data set").AddColumn("folder").AddColumn("files");
        foreach ((string name, string folder) in new[] { ("MNIST", folders.Mnist), ("Fashion-MNIST", folders.FashionMnist) })
            table.AddRow(name, Markup.Escape(folder), Markup.Escape(string.Join(", ", Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal))));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"Total wall time: {clock.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }
}

/// <summary>The main job: train, wrap in ML.NET, save, reload, measure, report.</summary>
internal static class RunCommand
{
    /// <summary>Runs it.</summary>
    public static async Task<int> ExecuteAsync(RunSettings s, CancellationToken ct)
    {
        if (s.Benchmark == "scenes") return await ScenesCommand.ExecuteAsync(s, ct).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        Cli.ApplyThreads(s.Threads);
        string outDir = Path.GetFullPath(s.Out);
        Directory.CreateDirectory(outDir);
        AnsiConsole.Write(new Rule("[bold]MLNetSlim demo: controllable multi-task network on Multi-(Fashion+MNIST)[/]").LeftJustified());

        DataFolders folders = await Cli.EnsureDataAsync(s.Data, ct).ConfigureAwait(false);
        MultiTaskDataset train = Cli.LoadSplit(folders, DataSplit.Train, s.TrainCount, s.Seed, "--train-count");
        MultiTaskDataset test = Cli.LoadSplit(folders, DataSplit.Test, s.TestCount, 0, "--test-count");
        IReadOnlyList<string> tasks = train.Tasks.Select(t => t.Name).ToArray();
        AnsiConsole.MarkupLine($"Data: {train.Count} training images (10 % held out for calibration), {test.Count} test images; tasks {string.Join(", ", tasks)}.");
        ct.ThrowIfCancellationRequested();

        var options = new ModelOptions
        {
            Backbone = s.Backbone == "resnet" ? BackboneOptions.ResNet() : BackboneOptions.SmallConvNet(),
            DecoderWidths = s.DecoderWidthMultipliers(),
            Training = new TrainingOptions { Epochs = s.Epochs, Seed = s.Seed, DistillationWeight = s.DistillationWeight, Threads = s.Threads },
        };
        (ControllableMultiTaskModel model, TimeSpan trainTime, List<string> epochLines) = Train(train, options, ct);
        using ControllableMultiTaskModel _ = model;
        AnsiConsole.MarkupLine($"Training (incl. batch-norm post-statistics and the calibration table): [bold]{trainTime.TotalSeconds:0.0} s[/]. " +
                               $"Full network {Tables.MMacs(model.Costs.FullMacs)} MMACs/image, smallest {Tables.MMacs(model.Costs.SmallestMacs)}.");

        // ML.NET: wrap, save, reload in this process, compare.
        var ml = new MLContext(s.Seed);
        (ControllableMultiTaskTransformer transformer, IDataView view) = MLNetBridge.Wrap(ml, model, test);
        string zip = Path.Combine(outDir, "model.zip");
        long bytes = MLNetBridge.Save(ml, transformer, view.Schema, zip);
        var ml2 = new MLContext(s.Seed);
        ControllableMultiTaskTransformer reloaded = MLNetBridge.Load(ml2, zip);
        ReloadCheck reload;
        try
        {
            reload = MLNetBridge.Compare(ml, transformer, reloaded, test, Math.Min(64, test.Count), zip);
        }
        finally
        {
            (reloaded.Model as IDisposable)?.Dispose();
        }
        if (reload.MaxAbsScoreDifference > 1e-6 || !reload.PredictedLabelsEqual)
            throw new InvalidOperationException($"The reloaded model predicts differently: max |score difference| {reload.MaxAbsScoreDifference}, labels equal: {reload.PredictedLabelsEqual}.");
        AnsiConsole.MarkupLine($"Saved [bold]{Markup.Escape(zip)}[/] ({bytes / 1024.0:0} KiB); reloaded with LoadChecked: {reload.RowsCompared} rows x {reload.Settings.Count} control settings " +
                               $"predict the same (max |score difference| {reload.MaxAbsScoreDifference:G3}, labels equal).");

        ct.ThrowIfCancellationRequested();
        var analyzer = new Analyzer(model, test);
        IDataView labelledTest = MLNetBridge.LabelledView(ml, test);
        AnalysisResult result = AnsiConsole.Status().Start("Measuring...", ctx =>
            analyzer.Run(s.PreferenceVectors, s.Seed, text => ctx.Status(Markup.Escape($"measuring: {text} ...")),
                () => Analyzer.ControllabilityWithTable(ml, transformer, labelledTest, test.Count, s.PreferenceVectors, s.Seed)));
        ct.ThrowIfCancellationRequested();

        PrintSections(result, tasks, test.Count, includeConfigurations: true, includeSweep: true);
        AnsiConsole.MarkupLine($"All {result.Space.Count} configurations: test accuracy from the per-factor test table; it agrees with the " +
                               $"{result.Space.DirectlyEvaluatedConfigurations} configurations evaluated directly to {result.Space.MaxAbsDifferenceToDirectEvaluation:G3}.");

        var files = new List<string> { zip };
        string png1 = Path.Combine(outDir, "accuracy-vs-macs.png"), png2 = Path.Combine(outDir, "preference-control.png");
        Plots.AccuracyVsMacs(png1, result.Space, tasks);
        Plots.PreferenceControl(png2, result.PreferenceSweeps, tasks);
        string json = Path.Combine(outDir, "report.json"), md = Path.Combine(outDir, "report.md");
        files.AddRange([json, md, Path.Combine(outDir, ConfigurationsCsv), png1, png2]);

        var training = new TrainingInfo(s.Backbone, s.Epochs, train.Count, test.Count, s.Seed, s.DistillationWeight,
            options.Training.SandwichRandomCount, options.Training.BatchSize, options.Training.LearningRate, trainTime.TotalSeconds, epochLines,
            model.Costs.FullMacs, model.Costs.SmallestMacs, model.Costs.EncoderOptionCount, model.Costs.EncoderWidths.Multipliers,
            model.Costs.DecoderWidths.Multipliers, options.Training.SandwichFinalEpochExtraCount);
        var report = new DemoReport("run", string.Join(' ', s.CommandLine), Machine(), training, reload, tasks, result,
            result.Elapsed.TotalSeconds, clock.Elapsed.TotalSeconds, files);
        WriteReports(report, json, md, test.Count);

        var fileTable = new Table().Border(TableBorder.Rounded).Title("[bold]Files written[/]").AddColumn("file").AddColumn(new TableColumn("bytes").RightAligned());
        foreach (string f in files) fileTable.AddRow(Markup.Escape(f), new FileInfo(f).Length.ToString("N0", CultureInfo.InvariantCulture));
        AnsiConsole.Write(fileTable);
        AnsiConsole.MarkupLine($"Total wall time: [bold]{clock.Elapsed.TotalSeconds:0.0} s[/] (training {trainTime.TotalSeconds:0.0} s, measurements {result.Elapsed.TotalSeconds:0.0} s).");
        return 0;
    }

    private static (ControllableMultiTaskModel Model, TimeSpan Time, List<string> EpochLines) Train(MultiTaskDataset train, ModelOptions options, CancellationToken ct)
    {
        var lines = new List<string>();
        var clock = Stopwatch.StartNew();
        ControllableMultiTaskModel? model = null;
        TimeSpan? trainingEnd = null; // end of the last epoch: what follows is post-statistics + the calibration table
        void AfterTraining()
        {
            if (trainingEnd is TimeSpan end)
            {
                string line = FormattableString.Invariant(
                    $"batch-norm post-statistics + calibration table ({CalibrationTable.PassCount(model!.Costs)} passes): {(clock.Elapsed - end).TotalSeconds:0.0} s after {end.TotalSeconds:0.0} s of training");
                lines.Add(line);
                AnsiConsole.WriteLine(line);
            }
        }
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            // A log, not a terminal: one line per progress report instead of a live bar.
            var log = new ProgressSink(p =>
            {
                AnsiConsole.WriteLine(p.ToString());
                if (p.IsEpochEnd) lines.Add(p.ToString());
                if (p.IsEpochEnd && (p.Epoch == p.Epochs || p.StoppedEarly))
                {
                    trainingEnd = clock.Elapsed;
                    AnsiConsole.WriteLine("batch-norm post-statistics + calibration table on held-out training data ...");
                }
            });
            model = ModelTrainer.Train(train, null, options, log, ct);
            AfterTraining();
            return (model, clock.Elapsed, lines);
        }
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(),
                new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                ProgressTask task = ctx.AddTask("Training", maxValue: 1);
                var sink = new ProgressSink(p =>
                {
                    task.MaxValue = p.TotalSteps;
                    task.Value = p.Step;
                    string losses = string.Join(" ", p.TaskLosses.Select(kv => FormattableString.Invariant($"{kv.Key} {kv.Value:0.000}")));
                    task.Description = FormattableString.Invariant($"epoch {p.Epoch}/{p.Epochs} | loss {losses} | CI-KD {p.DistillationLoss:0.000} | {p.ImagesPerSecond:0} img/s");
                    if (p.IsEpochEnd)
                    {
                        string line = FormattableString.Invariant(
                            $"epoch {p.Epoch}/{p.Epochs} done | task loss {losses} | CI-KD {p.DistillationLoss:0.0000} | lr {p.LearningRate:0.#####} | {p.ImagesPerSecond:0} img/s | {p.Elapsed.TotalSeconds:0.0} s");
                        lines.Add(line);
                        AnsiConsole.MarkupLine(Markup.Escape(line));
                        if (p.Epoch == p.Epochs || p.StoppedEarly)
                        {
                            trainingEnd = clock.Elapsed;
                            task.Description = "batch-norm post-statistics + calibration table on held-out training data";
                        }
                    }
                });
                model = ModelTrainer.Train(train, null, options, sink, ct);
                task.Value = task.MaxValue;
                task.StopTask();
            });
        AfterTraining();
        return (model!, clock.Elapsed, lines);
    }

    /// <summary>Prints the report's sections.</summary>
    public static void PrintSections(AnalysisResult r, IReadOnlyList<string> tasks, int testImages, bool includeConfigurations, bool includeSweep)
    {
        if (includeConfigurations) Tables.Print(Tables.Configurations(r.Configurations, tasks, testImages));
        Tables.Print(Tables.BudgetPreference(r.BudgetPreference, tasks, testImages));
        Tables.Print(Tables.Controllability(r.Controllability));
        AnsiConsole.MarkupLine("The paper's rule (the more preferred task's decoder has at least as many MACs), over the same preference vectors: " +
            string.Join(", ", r.PaperRule.Select(x => $"{x.Budget.ToString("P0", CultureInfo.InvariantCulture)}: {x.Holds} of {x.Queries}")) + ".");
        if (includeSweep)
            foreach (BudgetSweep sweep in r.PreferenceSweeps) Tables.Print(Tables.Sweep(sweep.Rows, tasks, sweep.Budget));
    }

    /// <summary>Machine facts for the report.</summary>
    public static MachineInfo Machine()
    {
        string cpu = "unknown";
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (IOException)
        {
        }
        return new MachineInfo(Environment.ProcessorCount, RuntimeInformation.OSDescription, cpu, RuntimeInformation.FrameworkDescription,
            TorchSharp.torch.get_num_threads(), DateTimeOffset.UtcNow.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture));
    }

    /// <summary>File name of the whole configuration space, written next to report.json.</summary>
    public const string ConfigurationsCsv = "configurations.csv";

    /// <summary>Writes report.json, report.md and configurations.csv (every configuration: MACs, fraction of full, test
    /// accuracy per task) into the report's folder.</summary>
    public static void WriteReports(DemoReport report, string jsonPath, string mdPath, int testImages)
    {
        File.WriteAllText(jsonPath, JsonSerializer.Serialize(report, Tables.Json));
        var csv = new StringBuilder("configuration,macs,fraction_of_full," + string.Join(',', report.Tasks.Select(t => "accuracy_" + t))).AppendLine();
        foreach (ConfigurationPoint p in report.Analysis.Space.Points)
            csv.Append('"').Append(p.Configuration.ToString()).Append("\",").Append(p.Macs.ToString(CultureInfo.InvariantCulture)).Append(',')
               .Append(p.FractionOfFull.ToString("R", CultureInfo.InvariantCulture)).Append(',')
               .AppendLine(string.Join(',', p.Metrics.Select(m => m.ToString("R", CultureInfo.InvariantCulture))));
        File.WriteAllText(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(jsonPath))!, ConfigurationsCsv), csv.ToString());
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# MLNetSlim demo report").AppendLine();
        sb.AppendLine(ci, $"- Command: `{report.CommandLine}`");
        sb.AppendLine(ci, $"- Date: {report.Machine.Date}; machine: {report.Machine.Cores} cores, {report.Machine.CpuModel}, {report.Machine.Os}, {report.Machine.Runtime}, Torch threads {report.Machine.TorchThreads}");
        if (report.Training is TrainingInfo t)
        {
            sb.AppendLine(ci, $"- Data: Multi-(Fashion+MNIST), {t.TrainImages} training images (10 % held out for calibration), {t.TestImages} test images");
            sb.AppendLine(ci, $"- Training: backbone {t.Backbone}, {t.Epochs} epoch(s), seed {t.Seed}, sandwich rule with {t.SandwichRandomCount} random configuration(s) per step{(t.SandwichFinalEpochExtraCount > 0 ? $" ({t.SandwichRandomCount + t.SandwichFinalEpochExtraCount} in the last epoch)" : "")}, batch {t.BatchSize}, learning rate {t.LearningRate}, CI-KD weight {t.DistillationWeight}, wall time {t.WallSeconds:0.0} s (incl. batch-norm post-statistics and the calibration table)");
            sb.AppendLine(ci, $"- Cost: full network {Tables.MMacs(t.FullMacs)} MMACs/image, smallest {Tables.MMacs(t.SmallestMacs)}; widths {string.Join(", ", t.Widths)}; {t.EncoderOptions} encoder options; decoder widths {string.Join(", ", t.DecoderWidths ?? t.Widths)}");
            foreach (string line in t.EpochLines) sb.AppendLine(ci, $"  - {line}");
        }
        if (report.Reload is ReloadCheck r)
            sb.AppendLine(ci, $"- ML.NET: saved `{Path.GetFileName(r.Path)}` ({r.Bytes:N0} bytes), reloaded with `LoadChecked`; {r.RowsCompared} rows x {r.Settings.Count} control settings: max |score difference| {r.MaxAbsScoreDifference:G3}, labels equal: {r.PredictedLabelsEqual}");
        sb.AppendLine(ci, $"- Wall time: measurements {report.AnalysisWallSeconds:0.0} s, total {report.TotalWallSeconds:0.0} s");
        AnalysisResult a = report.Analysis;
        foreach (MeasurementStage stage in a.Stages) sb.AppendLine(ci, $"  - {stage.Stage}: {stage.Seconds:0.0} s");
        sb.AppendLine();
        sb.Append(Tables.Configurations(a.Configurations, report.Tasks, testImages).ToMarkdown());
        sb.Append(Tables.BudgetPreference(a.BudgetPreference, report.Tasks, testImages).ToMarkdown());
        sb.Append(Tables.Controllability(a.Controllability).ToMarkdown());
        sb.AppendLine("## The paper's rule").AppendLine();
        sb.AppendLine("\"A larger computational budget to the higher preferred task decoder\": queries (the controllability section's preference vectors) " +
            "where every more-preferred task's decoder has at least as many MACs as each less-preferred one's. Guaranteed is only the monotone form " +
            "(raising a task's preference never shrinks its decoder; docs/control.md).").AppendLine();
        foreach (PaperRuleRow row in a.PaperRule)
        {
            string examples = row.Exceptions.Count > 0 ? "; e.g. " + string.Join("; ", row.Exceptions.Select(e => $"`{e}`")) : "";
            sb.AppendLine(ci, $"- {row.Budget:P0} of full MACs: holds in {row.Holds} of {row.Queries}{examples}");
        }
        sb.AppendLine();
        foreach (BudgetSweep sweep in a.PreferenceSweeps) sb.Append(Tables.Sweep(sweep.Rows, report.Tasks, sweep.Budget).ToMarkdown());
        sb.AppendLine("## All configurations").AppendLine();
        sb.AppendLine(ci, $"{a.Space.Count} configurations; {a.Space.Source}. Max |difference| to the {a.Space.DirectlyEvaluatedConfigurations} configurations evaluated directly with `model.Evaluate`: {a.Space.MaxAbsDifferenceToDirectEvaluation:G3}.").AppendLine();
        foreach ((string task, IReadOnlyList<string> front) in a.Space.ParetoFronts)
            sb.AppendLine(ci, $"- Pareto front of {task} (accuracy vs MACs, cheapest first): {string.Join("; ", front.Select(c => $"`{c}`"))}");
        sb.AppendLine().AppendLine(ci, $"Every configuration with its MACs and test accuracy: `{ConfigurationsCsv}` next to this report (report.json lists the front points only).");
        sb.AppendLine().AppendLine("![accuracy vs MACs](accuracy-vs-macs.png)").AppendLine().AppendLine("![preference control](preference-control.png)");
        File.WriteAllText(mdPath, sb.ToString());
    }
}

/// <summary>evaluate: load a saved model and print the budget x preference and controllability sections.</summary>
public static class EvaluateCommand
{
    /// <summary>Runs it.</summary>
    public static async Task<int> ExecuteAsync(EvaluateSettings s, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        Cli.ApplyThreads(s.Threads);
        var ml = new MLContext(0);
        ControllableMultiTaskTransformer transformer = MLNetBridge.Load(ml, s.Model);
        using ControllableMultiTaskModel model = MLNetBridge.ModelOf(transformer);
        IReadOnlyList<string> tasks = model.Tasks.Select(t => t.Name).ToArray();
        if (!tasks.SequenceEqual(MultiFashionMnist.Tasks.Select(t => t.Name)))
            throw new InvalidOperationException($"The model's tasks are [{string.Join(", ", tasks)}]; this demo evaluates Multi-(Fashion+MNIST) models (digit, fashion).");
        AnsiConsole.MarkupLine($"Loaded [bold]{Markup.Escape(Path.GetFullPath(s.Model))}[/]: tasks {string.Join(", ", tasks)}, " +
                               $"full network {Tables.MMacs(model.Costs.FullMacs)} MMACs/image, {model.Costs.EncoderOptionCount} encoder options x {model.Costs.DecoderWidths.Count} decoder widths.");

        DataFolders folders = await Cli.EnsureDataAsync(s.Data, ct).ConfigureAwait(false);
        MultiTaskDataset test = Cli.LoadSplit(folders, DataSplit.Test, s.TestCount, 0, "--test-count");
        var analyzer = new Analyzer(model, test);
        if (s.Out is not null)
        {
            string outDir = Path.GetFullPath(s.Out);
            Directory.CreateDirectory(outDir);
            IDataView labelled = MLNetBridge.LabelledView(ml, test);
            AnalysisResult result = AnsiConsole.Status().Start("Measuring...", ctx =>
                analyzer.Run(s.PreferenceVectors, s.Seed, text => ctx.Status(Markup.Escape($"measuring: {text} ...")),
                    () => Analyzer.ControllabilityWithTable(ml, transformer, labelled, test.Count, s.PreferenceVectors, s.Seed)));
            ct.ThrowIfCancellationRequested();
            RunCommand.PrintSections(result, tasks, test.Count, includeConfigurations: true, includeSweep: true);
            string png1 = Path.Combine(outDir, "accuracy-vs-macs.png"), png2 = Path.Combine(outDir, "preference-control.png");
            Plots.AccuracyVsMacs(png1, result.Space, tasks);
            Plots.PreferenceControl(png2, result.PreferenceSweeps, tasks);
            string json = Path.Combine(outDir, "report.json"), md = Path.Combine(outDir, "report.md");
            var report = new DemoReport("evaluate", string.Join(' ', s.CommandLine), RunCommand.Machine(), null, null, tasks, result,
                result.Elapsed.TotalSeconds, clock.Elapsed.TotalSeconds, [json, md, png1, png2]);
            RunCommand.WriteReports(report, json, md, test.Count);
            AnsiConsole.MarkupLine($"Wrote {Markup.Escape(json)}, {Markup.Escape(md)} and the plots. Total wall time: [bold]{clock.Elapsed.TotalSeconds:0.0} s[/].");
            return 0;
        }
        (IReadOnlyList<BudgetPreferenceRow> b, ControllabilitySection c) = AnsiConsole.Status().Start("Measuring...", ctx =>
        {
            ctx.Status("Budget x preference");
            IReadOnlyList<BudgetPreferenceRow> rows = analyzer.BudgetPreference();
            ctx.Status($"Controllability (mlContext.MulticlassClassification.EvaluateControllability: {CalibrationTable.PassCount(model.Costs)} passes over {test.Count} test images)");
            return (rows, Analyzer.Controllability(ml, transformer, MLNetBridge.LabelledView(ml, test), test.Count, s.PreferenceVectors, s.Seed));
        });
        Tables.Print(Tables.BudgetPreference(b, tasks, test.Count));
        Tables.Print(Tables.Controllability(c));
        AnsiConsole.MarkupLine($"Total wall time: [bold]{clock.Elapsed.TotalSeconds:0.0} s[/].");
        return 0;
    }
}

/// <summary>Synchronous <see cref="IProgress{T}"/> (no synchronisation context hop).</summary>
internal sealed class ProgressSink(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
