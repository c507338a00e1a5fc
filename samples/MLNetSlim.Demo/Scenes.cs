using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Datasets;
using MLNetSlim.Evaluation;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.SampleData;
using MLNetSlim.Training;
using Spectre.Console;

namespace MLNetSlim.Demo;

/// <summary>One composed scene as an ML.NET row: the canvas and the four tasks' labels (label maps as (1, H, W) vectors).</summary>
public sealed class SceneRow
{
    /// <summary>The canvas, 64*64 floats in [0, 1].</summary>
    public float[] Features { get; set; } = [];

    /// <summary>Segmentation label map: class indices 0-20 as floats.</summary>
    public float[] Seg { get; set; } = [];

    /// <summary>Depth label map.</summary>
    public float[] Depth { get; set; } = [];

    /// <summary>Edge label map (0/1).</summary>
    public float[] Edges { get; set; } = [];

    /// <summary>Class of the front-most item, 0-19. Declared a key column (<see cref="Schema"/>): LoadFromEnumerable
    /// stores class c as key value c + 1, so 0 is a valid class here, not a missing key.</summary>
    public uint Front { get; set; }

    /// <summary>The first <paramref name="count"/> scenes of a data set as rows.</summary>
    public static IEnumerable<SceneRow> From(MultiTaskDataset scenes, int count)
    {
        int size = scenes.ImageSize;
        for (int i = 0; i < count; i++)
            yield return new SceneRow
            {
                Features = scenes.Images.AsSpan(i * size, size).ToArray(),
                Seg = scenes.PixelLabels[0]!.AsSpan(i * size, size).ToArray(),
                Depth = scenes.PixelLabels[1]!.AsSpan(i * size, size).ToArray(),
                Edges = scenes.PixelLabels[2]!.AsSpan(i * size, size).ToArray(),
                Front = (uint)scenes.Labels[3][i],
            };
    }

    /// <summary>The schema: known-size vectors (the estimator needs the sizes) and a 20-value key.</summary>
    public static SchemaDefinition Schema(int pixels, int frontClasses)
    {
        SchemaDefinition s = SchemaDefinition.Create(typeof(SceneRow));
        foreach (string name in new[] { nameof(Features), nameof(Seg), nameof(Depth), nameof(Edges) })
            s[name].ColumnType = new VectorDataViewType(NumberDataViewType.Single, pixels);
        s[nameof(Front)].ColumnType = new KeyDataViewType(typeof(uint), frontClasses);
        return s;
    }
}

/// <summary>One configuration's every metric per task (the dense report's table).</summary>
public sealed record SceneConfigurationRow(string Name, string Configuration, long Macs, double FractionOfFull,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Metrics);

/// <summary>One training of the CI-KD ablation.</summary>
public sealed record SceneTraining(double DistillationWeight, double WallSeconds, IReadOnlyList<string> EpochLines,
    IReadOnlyList<SceneConfigurationRow> Configurations);

/// <summary>Settings of the dense benchmark.</summary>
public sealed record SceneSettings(int TrainScenes, int TestScenes, int Epochs, int BatchSize, IReadOnlyList<int> StageChannels, int PyramidChannels, bool Ablation);

/// <summary>scenes-report.json: the classification report's keys (analysis.controllability.comparison...) plus the dense sections.</summary>
internal sealed record ScenesReport(string Command, string CommandLine, MachineInfo Machine, SceneSettings Settings, string Data,
    IReadOnlyList<TaskSummary> Tasks, long FullMacs, long SmallestMacs, ReloadCheck Reload, AnalysisResult Analysis,
    IReadOnlyList<SceneTraining> Ablation, double TotalWallSeconds, IReadOnlyList<string> Files);

/// <summary>A task of the report: name, kind, primary metric and its direction.</summary>
public sealed record TaskSummary(string Name, string Kind, string PrimaryMetric, bool HigherIsBetter);

/// <summary><c>--benchmark scenes</c>: the dense benchmark on composed scenes, trained through the ML.NET estimator.</summary>
internal static class ScenesCommand
{
    /// <summary>Default training scenes.</summary>
    public const int DefaultTrainScenes = 6000;

    /// <summary>Default test scenes.</summary>
    public const int DefaultTestScenes = 1000;

    /// <summary>Default full-width channels of the three backbone stages (half the classification benchmark's).</summary>
    public static readonly int[] DefaultStageChannels = [16, 32, 64];

    /// <summary>Default per-pixel pyramid channels D.</summary>
    public const int DefaultPyramidChannels = 32;

    /// <summary>Default images per step.</summary>
    public const int DefaultBatchSize = 64;

    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    /// <summary>Runs it.</summary>
    public static async Task<int> ExecuteAsync(RunSettings s, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        Cli.ApplyThreads(s.Threads);
        string outDir = Path.GetFullPath(s.Out);
        Directory.CreateDirectory(outDir);
        AnsiConsole.Write(new Rule("[bold]MLNetSlim dense benchmark: composed scenes (segmentation, depth, edges, front item)[/]").LeftJustified());
        int[] channels = s.StageChannels is null ? DefaultStageChannels
            : s.StageChannels.Split(',').Select(x => int.TryParse(x, NumberStyles.Integer, Ci, out int c) && c > 0 ? c
                : throw new ArgumentException($"--stage-channels must be three positive integers such as 16,32,64, got '{s.StageChannels}'.")).ToArray();
        if (channels.Length != 3) throw new ArgumentException($"--stage-channels must be three positive integers such as 16,32,64, got '{s.StageChannels}'.");
        var settings = new SceneSettings(s.TrainCount ?? DefaultTrainScenes, s.TestCount ?? DefaultTestScenes, s.Epochs, DefaultBatchSize,
            channels, DefaultPyramidChannels, s.DistillationWeight > 0);

        DataFolders folders = await Cli.EnsureDataAsync(s.Data, ct).ConfigureAwait(false);
        MultiTaskDataset train = ComposedScenes.Load(DataSplit.Train, settings.TrainScenes, s.Seed, folders.Mnist, folders.FashionMnist);
        MultiTaskDataset test = ComposedScenes.Load(DataSplit.Test, settings.TestScenes, 0, folders.Mnist, folders.FashionMnist);
        IReadOnlyList<string> tasks = train.Tasks.Select(t => t.Name).ToArray();
        AnsiConsole.MarkupLine($"Data: {train.Count} training scenes (10 % held out for calibration), {test.Count} test scenes, {ComposedScenes.Size}x{ComposedScenes.Size}; tasks " +
                               string.Join(", ", train.Tasks.Select(t => $"{t.Name} ({t.Kind}, {t.PrimaryMetric})")) + ".");

        var ml = new MLContext(s.Seed);
        IDataView trainView = ml.Data.LoadFromEnumerable(SceneRow.From(train, train.Count), SceneRow.Schema(train.ImageSize, 20));
        var trainings = new List<SceneTraining>();
        ControllableMultiTaskTransformer? main = null;
        var weights = settings.Ablation ? new[] { s.DistillationWeight, 0.0 } : new[] { s.DistillationWeight };
        foreach (double lambda in weights)
        {
            ct.ThrowIfCancellationRequested();
            AnsiConsole.MarkupLine($"[bold]Training with CI-KD weight {lambda.ToString(Ci)}[/] (same seed, data and schedule for every weight).");
            var lines = new List<string>();
            var sink = new ProgressSink(p =>
            {
                AnsiConsole.WriteLine(p.ToString());
                if (p.IsEpochEnd) lines.Add(p.ToString());
            });
            var trainClock = Stopwatch.StartNew();
            ControllableMultiTaskTransformer transformer = Estimator(ml, settings, train, s.Seed, lambda, s.Threads, sink, ct).Fit(trainView);
            double seconds = trainClock.Elapsed.TotalSeconds;
            ControllableMultiTaskModel model = MLNetBridge.ModelOf(transformer);
            AnsiConsole.MarkupLine($"Training (ML.NET Fit, incl. batch-norm post-statistics and the calibration table): [bold]{seconds:0.0} s[/].");
            trainings.Add(new SceneTraining(lambda, seconds, lines, Showcase(model, test)));
            if (main is null) main = transformer;
            else model.Dispose();
        }
        ControllableMultiTaskModel mainModel = MLNetBridge.ModelOf(main!);
        using ControllableMultiTaskModel _ = mainModel;
        PrintShowcase(trainings, train.Tasks);

        // Save, reload (LoadChecked), compare at several control settings.
        string zip = Path.Combine(outDir, "scenes-model.zip");
        IDataView testView = ml.Data.LoadFromEnumerable(SceneRow.From(test, Math.Min(32, test.Count)), SceneRow.Schema(test.ImageSize, 20));
        long bytes = MLNetBridge.Save(ml, main!, testView.Schema, zip);
        var ml2 = new MLContext(s.Seed);
        ControllableMultiTaskTransformer reloaded = MLNetBridge.Load(ml2, zip);
        ReloadCheck reload;
        try
        {
            reload = CompareReloaded(main!, reloaded, testView, zip, bytes);
        }
        finally
        {
            (reloaded.Model as IDisposable)?.Dispose();
        }
        if (reload.MaxAbsScoreDifference > 1e-5 || !reload.PredictedLabelsEqual)
            throw new InvalidOperationException($"The reloaded model predicts differently: max |score difference| {reload.MaxAbsScoreDifference}, labels equal: {reload.PredictedLabelsEqual}.");
        AnsiConsole.MarkupLine($"Saved [bold]{Markup.Escape(zip)}[/] ({bytes / 1024.0:0} KiB); reloaded: {reload.RowsCompared} rows x {reload.Settings.Count} control settings agree " +
                               $"(max |score difference| {reload.MaxAbsScoreDifference:G3}, predicted labels equal).");

        ct.ThrowIfCancellationRequested();
        var analyzer = new Analyzer(mainModel, test);
        AnalysisResult result = AnsiConsole.Status().Start("Measuring...", ctx =>
            analyzer.Run(s.PreferenceVectors, s.Seed, text => ctx.Status(Markup.Escape($"measuring: {text} ..."))));
        Tables.Print(Tables.Controllability(result.Controllability));

        var files = new List<string> { zip };
        string png1 = Path.Combine(outDir, "scenes-metric-vs-macs.png");
        Plots.RelativeMetricVsMacs(png1, result.Space, train.Tasks, result.Space.Points.First(p => p.FractionOfFull >= 1 - 1e-12).Metrics);
        string json = Path.Combine(outDir, "scenes-report.json"), md = Path.Combine(outDir, "scenes-report.md");
        files.AddRange([json, md, png1]);
        var report = new ScenesReport("run --benchmark scenes", string.Join(' ', s.CommandLine), RunCommand.Machine(), settings,
            $"composed scenes (docs/data.md): {train.Count} training scenes (seed {s.Seed}, train splits), {test.Count} test scenes (seed 0, test splits)",
            train.Tasks.Select(t => new TaskSummary(t.Name, t.Kind.ToString(), t.PrimaryMetric, t.HigherIsBetter)).ToArray(),
            mainModel.Costs.FullMacs, mainModel.Costs.SmallestMacs, reload, result, trainings, clock.Elapsed.TotalSeconds, files);
        File.WriteAllText(json, JsonSerializer.Serialize(report, Tables.Json));
        File.WriteAllText(md, Markdown(report, train.Tasks));
        AnsiConsole.MarkupLine($"Wrote {Markup.Escape(json)}, {Markup.Escape(md)}, {Markup.Escape(png1)}.");
        AnsiConsole.MarkupLine($"Total wall time: [bold]{clock.Elapsed.TotalSeconds:0.0} s[/].");
        return 0;
    }

    /// <summary>The estimator for the four scene tasks.</summary>
    internal static ControllableMultiTaskEstimator Estimator(MLContext ml, SceneSettings settings, MultiTaskDataset train, int seed, double lambda,
        int threads, IProgress<TrainingProgress>? progress, CancellationToken ct)
    {
        _ = threads;
        IReadOnlyList<TaskDefinition> t = train.Tasks;
        return ml.MulticlassClassification.Trainers.ControllableMultiTask(new ControllableMultiTaskEstimator.Options
        {
            Tasks =
            {
                new() { Name = "seg", LabelColumnName = nameof(SceneRow.Seg), Kind = TaskKind.Segmentation, NumClasses = t[0].NumClasses, ClassNames = t[0].ClassNames },
                new() { Name = "depth", LabelColumnName = nameof(SceneRow.Depth), Kind = TaskKind.Depth },
                new() { Name = "edges", LabelColumnName = nameof(SceneRow.Edges), Kind = TaskKind.Edges },
                new() { Name = "front", LabelColumnName = nameof(SceneRow.Front), ClassNames = t[3].ClassNames },
            },
            ImageChannels = 1,
            ImageHeight = train.Height,
            ImageWidth = train.Width,
            Epochs = settings.Epochs,
            BatchSize = settings.BatchSize,
            PyramidChannels = settings.PyramidChannels,
            StageChannels = settings.StageChannels.ToArray(),
            DistillationWeight = lambda,
            Seed = seed,
            Progress = progress,
            CancellationToken = ct,
        });
    }

    /// <summary>Every metric of every task for the showcase configurations, on the test scenes.</summary>
    private static IReadOnlyList<SceneConfigurationRow> Showcase(ControllableMultiTaskModel model, MultiTaskDataset test)
    {
        CostTable costs = model.Costs;
        return ConfigurationSpace.Showcase(costs.EncoderWidths, costs.DecoderWidths, costs.TaskCount).Select(x =>
        {
            TaskMetrics[] m = NetworkEvaluator.Metrics(model.Network, test, x.Configuration, 64, model.Device);
            long macs = costs.Macs(x.Configuration);
            return new SceneConfigurationRow(x.Name, x.Configuration.ToString(), macs, (double)macs / costs.FullMacs,
                test.Tasks.Select((t, i) => (t.Name, m[i].All)).ToDictionary(p => p.Name, p => p.All, StringComparer.Ordinal));
        }).ToArray();
    }

    private static void PrintShowcase(IReadOnlyList<SceneTraining> trainings, IReadOnlyList<TaskDefinition> tasks)
    {
        foreach (TableData table in ShowcaseTables(trainings, tasks)) Tables.Print(table);
    }

    private static IEnumerable<TableData> ShowcaseTables(IReadOnlyList<SceneTraining> trainings, IReadOnlyList<TaskDefinition> tasks)
    {
        string[] metricColumns = tasks.SelectMany(t => trainings[0].Configurations[0].Metrics[t.Name].Keys.Select(k => $"{t.Name} {k}")).ToArray();
        foreach (SceneTraining tr in trainings)
            yield return new TableData($"Per-task test metrics, CI-KD weight {tr.DistillationWeight.ToString(Ci)} (training {tr.WallSeconds:0} s)",
                ["name", "configuration", "MMACs", "of full", .. metricColumns],
                tr.Configurations.Select(r => (IReadOnlyList<string>)[r.Name, r.Configuration, Tables.MMacs(r.Macs), Tables.Pct(r.FractionOfFull),
                    .. tasks.SelectMany(t => r.Metrics[t.Name].Select(kv => Metric(kv.Key, kv.Value)))]).ToArray(),
                "mIoU, pixelAccuracy, delta1.25, F, maxF, accuracy in %; RMSE and absRel in depth units (background depth 10, items 2-8). Higher is better except RMSE and absRel.");
    }

    /// <summary>A metric value: fractions as %, depth errors as numbers.</summary>
    public static string Metric(string name, double v) =>
        name is "RMSE" or "absRel" or "meanAngleError" ? v.ToString("0.000", Ci) : (100 * v).ToString("0.00", Ci);

    /// <summary>Transforms the rows with both transformers at three control settings and compares every output column.</summary>
    private static ReloadCheck CompareReloaded(ControllableMultiTaskTransformer before, ControllableMultiTaskTransformer after, IDataView view, string path, long bytes)
    {
        var settings = new List<string>();
        double maxDiff = 0;
        bool equal = true;
        int rows = 0;
        string[] names = before.Tasks.Select(t => t.Name).ToArray();
        foreach ((double budget, double[] w) in new[] { (1.0, names.Select(_ => 1.0).ToArray()), (0.5, [0.7, 0.1, 0.1, 0.1]), (0.3, [0.1, 0.1, 0.1, 0.7]) })
        {
            foreach (ControllableMultiTaskTransformer t in new[] { before, after })
            {
                t.Budget = Budget.FractionOfFull(budget);
                t.TaskWeights = names.Select((n, i) => (n, w[i])).ToDictionary(x => x.n, x => x.Item2);
            }
            if (!before.Configuration.Equals(after.Configuration))
                throw new InvalidOperationException($"The reloaded model chose {after.Configuration} at budget {budget}; the original chose {before.Configuration}.");
            settings.Add($"budget {budget.ToString(Ci)}, weights {string.Join("/", w.Select(x => x.ToString(Ci)))} -> {before.Configuration}");
            IDataView a = before.Transform(view), b = after.Transform(view);
            foreach (TaskDefinition task in before.Tasks)
            {
                float[][] sa = a.GetColumn<float[]>(ControllableMultiTaskTransformer.ScoreColumnName(task.Name)).ToArray();
                float[][] sb = b.GetColumn<float[]>(ControllableMultiTaskTransformer.ScoreColumnName(task.Name)).ToArray();
                rows = sa.Length;
                for (int i = 0; i < sa.Length; i++)
                    for (int k = 0; k < sa[i].Length; k++) maxDiff = Math.Max(maxDiff, Math.Abs(sa[i][k] - sb[i][k]));
                string label = ControllableMultiTaskTransformer.PredictedLabelColumnName(task.Name);
                if (task.Kind == TaskKind.Segmentation)
                    equal &= a.GetColumn<uint[]>(label).Zip(b.GetColumn<uint[]>(label)).All(p => p.First.SequenceEqual(p.Second));
                else if (task.Kind == TaskKind.Classification)
                    equal &= a.GetColumn<uint>(label).SequenceEqual(b.GetColumn<uint>(label));
            }
        }
        foreach (ControllableMultiTaskTransformer t in new[] { before, after })
        {
            t.Budget = Budget.Full;
            t.TaskWeights = names.ToDictionary(n => n, _ => 1.0);
        }
        return new ReloadCheck(path, bytes, rows, settings, maxDiff, equal);
    }

    private static string Markdown(ScenesReport r, IReadOnlyList<TaskDefinition> tasks)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# MLNetSlim dense benchmark: composed scenes").AppendLine();
        sb.AppendLine(Ci, $"- Command: `{r.CommandLine}`");
        sb.AppendLine(Ci, $"- Date: {r.Machine.Date}; machine: {r.Machine.Cores} cores, {r.Machine.CpuModel}, {r.Machine.Os}, {r.Machine.Runtime}, Torch threads {r.Machine.TorchThreads}");
        sb.AppendLine(Ci, $"- Data: {r.Data}");
        sb.AppendLine(Ci, $"- Training through the ML.NET estimator: {r.Settings.Epochs} epoch(s), batch {r.Settings.BatchSize}, small conv net with stage channels {string.Join("/", r.Settings.StageChannels)}, pyramid channels {r.Settings.PyramidChannels}, widths 0.25/0.5/0.75/1, sandwich k = 1, Adam 2e-3 cosine");
        sb.AppendLine(Ci, $"- Cost: full network {Tables.MMacs(r.FullMacs)} MMACs/image, smallest {Tables.MMacs(r.SmallestMacs)}");
        foreach (SceneTraining t in r.Ablation)
        {
            sb.AppendLine(Ci, $"- Training with CI-KD weight {t.DistillationWeight.ToString(Ci)}: {t.WallSeconds:0.0} s wall (incl. batch-norm post-statistics and calibration)");
            foreach (string line in t.EpochLines) sb.AppendLine(Ci, $"  - {line}");
        }
        sb.AppendLine(Ci, $"- ML.NET: saved `{Path.GetFileName(r.Reload.Path)}` ({r.Reload.Bytes:N0} bytes), reloaded with `LoadChecked`; {r.Reload.RowsCompared} rows x {r.Reload.Settings.Count} control settings: max |score difference| {r.Reload.MaxAbsScoreDifference:G3}, predicted labels equal: {r.Reload.PredictedLabelsEqual}");
        sb.AppendLine(Ci, $"- Total wall time {r.TotalWallSeconds:0.0} s").AppendLine();
        foreach (TableData table in ShowcaseTables(r.Ablation, tasks)) sb.Append(table.ToMarkdown());
        sb.Append(Tables.Controllability(r.Analysis.Controllability).ToMarkdown());
        sb.AppendLine("Budget x preference (primary metrics: seg mIoU %, depth RMSE, edges F %, front accuracy %):").AppendLine();
        sb.AppendLine("| budget | preference | configuration | of full | " + string.Join(" | ", tasks.Select(t => $"{t.Name} {t.PrimaryMetric}")) + " |");
        sb.AppendLine("|---|---|---|---:|" + string.Concat(tasks.Select(_ => "---:|")));
        foreach (BudgetPreferenceRow b in r.Analysis.BudgetPreference)
            sb.AppendLine($"| {Tables.Pct(b.Budget)} | {b.Preference} | `{b.Configuration}` | {Tables.Pct(b.FractionOfFull)} | " +
                              string.Join(" | ", tasks.Select(t => Metric(t.PrimaryMetric, b.TestAccuracy[t.Name]))) + " |");
        sb.AppendLine().AppendLine("![relative metric vs MACs](scenes-metric-vs-macs.png)");
        return sb.ToString();
    }
}
