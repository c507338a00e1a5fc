using System.Diagnostics;
using System.Text;
using MLNetSlim.Data;
using MLNetSlim.Evaluation;
using MLNetSlim.Network;
using MLNetSlim.Training;
using Spectre.Console;
using static MLNetSlim.Benchmarks.ReportFiles;
using static TorchSharp.torch;
using MLNetSlim.Architecture;
using MLNetSlim.Datasets;
using MLNetSlim.Model;

namespace MLNetSlim.Benchmarks;

/// <summary>Settings of a `compare` run.</summary>
/// <param name="Quick">Smoke run (small counts, 1 epoch).</param>
/// <param name="Epochs">Epochs of every network (supernets and baselines alike).</param>
/// <param name="TrainCount">Multi-(Fashion+MNIST) train images loaded (10 % of them are held out for the supernets'
/// calibration table; every network trains on the same other 90 %).</param>
/// <param name="TestCount">Test images (t10k split) for accuracy.</param>
/// <param name="Data">Data root or folder given with --data, or null for the default locations.</param>
/// <param name="Out">Output folder.</param>
/// <param name="Seed">Seed of the data pairing, the split, weight initialisation and training.</param>
/// <param name="MLNetTrainer">ML.NET built-in trainer: "sdca" or "lightgbm".</param>
/// <param name="LatencyRounds">Timed forward passes per configuration and batch size (interleaved).</param>
/// <param name="PostStatisticsImages">TrainingOptions.PostStatisticsImages of every network (library
/// default 2048; 512 in quick runs).</param>
/// <param name="SandwichMiddleEncoders">TrainingOptions.SandwichMiddleEncoders of both supernets (issue-12 ablation).</param>
/// <param name="InplaceDistillationWeight">TrainingOptions.InplaceDistillationWeight of both supernets (issue-12 ablation).</param>
/// <param name="SandwichFinalEpochExtraCount">TrainingOptions.SandwichFinalEpochExtraCount of both supernets (issue-12 ablation).</param>
public sealed record CompareSettings(bool Quick, int Epochs, int TrainCount, int TestCount, string? Data, string Out, int Seed,
    string MLNetTrainer, int LatencyRounds, int PostStatisticsImages, bool SandwichMiddleEncoders = true, double InplaceDistillationWeight = 1,
    int SandwichFinalEpochExtraCount = 1);

/// <summary>One network evaluated at one width configuration.</summary>
/// <param name="Configuration">"enc=.. dec=..".</param>
/// <param name="Macs">Exact MACs per image (CostTable).</param>
/// <param name="MacsFraction">MACs / full-configuration MACs.</param>
/// <param name="Accuracy">Test accuracy per task, in [0, 1].</param>
/// <param name="LatencyB1Ms">Median ms of a forward pass (no_grad) at batch 1; null when not measured.</param>
/// <param name="LatencyB32Ms">Median ms of a forward pass (no_grad) at batch 32; null when not measured.</param>
/// <param name="TrainWallSeconds">For a static network: wall time of building + training it (incl. batch-norm
/// post-statistics); null for a supernet's configurations (see the supernet's training time).</param>
/// <param name="TrainLoopSeconds">For a static network: the optimisation loop alone.</param>
public sealed record ConfigurationResult(string Configuration, long Macs, double MacsFraction, Dictionary<string, double> Accuracy,
    double? LatencyB1Ms, double? LatencyB32Ms, double? TrainWallSeconds = null, double? TrainLoopSeconds = null);

/// <summary>A super-network trained once (ModelTrainer.Train) and evaluated at several configurations.</summary>
/// <param name="Name">Label.</param>
/// <param name="DistillationWeight">CI-KD weight lambda (0 = ablation without CI-KD).</param>
/// <param name="TrainWallSeconds">Wall time of ModelTrainer.Train: training loop, batch-norm
/// post-statistics and the calibration table.</param>
/// <param name="TrainLoopSeconds">The optimisation loop alone (last epoch-end progress report).</param>
/// <param name="ConfigurationsServed">E x W^T: encoder options x widths^tasks.</param>
/// <param name="Configurations">The evaluated configurations.</param>
public sealed record SupernetResult(string Name, double DistillationWeight, double TrainWallSeconds, double TrainLoopSeconds,
    long ConfigurationsServed, IReadOnlyList<ConfigurationResult> Configurations);

/// <summary>A full-width single-task network.</summary>
public sealed record SingleTaskResult(string Task, long Macs, double Accuracy, double LatencyB1Ms, double LatencyB32Ms,
    double TrainWallSeconds, double TrainLoopSeconds);

/// <summary>The derived checks of a `compare` run.</summary>
/// <param name="SupernetFullMinusStaticFullPoints">Per task: supernet accuracy at the full configuration minus the
/// static full network's, in percentage points.</param>
/// <param name="SupernetSmallestMinusStaticSmallestPoints">Per task, at the smallest configuration.</param>
/// <param name="AblationFullMinusSupernetFullPoints">Per task: no-CI-KD supernet minus supernet, full configuration.</param>
/// <param name="AblationSmallestMinusSupernetSmallestPoints">Per task: no-CI-KD minus supernet, smallest configuration.</param>
/// <param name="SupernetFullMinusSingleTaskPoints">Per task: supernet full minus the single-task network.</param>
/// <param name="SupernetOverStaticFullTrainWall">Supernet training wall time / static full network's.</param>
/// <param name="SupernetOverStaticFullTrainLoop">The same ratio for the optimisation loops alone.</param>
/// <param name="SupernetOverAllStaticsTrainWall">Supernet training wall time / the sum over the static networks of the
/// evaluated configurations.</param>
/// <param name="SmallestOverFullLatencyB32">Supernet: smallest configuration's batch-32 latency / full's.</param>
/// <param name="SmallestOverFullMacs">Smallest configuration's MACs / full's.</param>
public sealed record DerivedChecks(
    Dictionary<string, double> SupernetFullMinusStaticFullPoints,
    Dictionary<string, double> SupernetSmallestMinusStaticSmallestPoints,
    Dictionary<string, double> AblationFullMinusSupernetFullPoints,
    Dictionary<string, double> AblationSmallestMinusSupernetSmallestPoints,
    Dictionary<string, double> SupernetFullMinusSingleTaskPoints,
    double SupernetOverStaticFullTrainWall,
    double SupernetOverStaticFullTrainLoop,
    double SupernetOverAllStaticsTrainWall,
    double SmallestOverFullLatencyB32,
    double SmallestOverFullMacs);

/// <summary>The whole `compare` report (compare.json).</summary>
public sealed record CompareReport(MachineInfo Machine, CompareSettings Settings, string Kind, IReadOnlyList<string> Tasks,
    int TrainImages, int CalibrationImages, int TestImages, double DataLoadSeconds,
    SupernetResult Supernet, SupernetResult AblationWithoutCiKd, IReadOnlyList<ConfigurationResult> StaticNetworks,
    IReadOnlyList<SingleTaskResult> SingleTaskNetworks, IReadOnlyList<MLNetBaselineResult> MLNetBaselines,
    DerivedChecks Checks, double TotalSeconds);

/// <summary>
/// `compare`: in one process and on the same data, the supernet (trained once) against the alternatives: one static
/// network per configuration, single-task networks, an ML.NET built-in trainer per task, and the supernet without
/// CI-KD. Everything uses the library (ModelTrainer.Train, SupernetTrainer with FixedConfiguration,
/// NetworkEvaluator, CostTable).
/// </summary>
public static class CompareCommand
{
    /// <summary>The evaluated configurations: four uniform ones, then two mixed ones.</summary>
    public static readonly string[] Configurations =
        ["enc=0.25 dec=0.25,0.25", "enc=0.5 dec=0.5,0.5", "enc=0.75 dec=0.75,0.75", "enc=1 dec=1,1", "enc=0.5 dec=1,0.25", "enc=0.75 dec=0.25,1"];

    private const int SmallestIndex = 0, FullIndex = 3;

    /// <summary>Runs the comparison and writes compare.json and compare.md.</summary>
    public static int Run(string[] args, CompareSettings s)
    {
        var total = Stopwatch.StartNew();
        MachineInfo machine = MachineInfo.Current(args);
        Log($"compare: {(s.Quick ? "QUICK smoke run" : "full run")}: {s.TrainCount} train images (90 % for training), {s.TestCount} test images, {s.Epochs} epoch(s), ML.NET trainer {s.MLNetTrainer}");

        var clock = Stopwatch.StartNew();
        MultiTaskDataset all = MultiFashionMnist.Load(DataSplit.Train, s.TrainCount, s.Seed, s.Data, s.Data);
        MultiTaskDataset test = MultiFashionMnist.Load(DataSplit.Test, s.TestCount, s.Seed, s.Data, s.Data);
        (MultiTaskDataset train, MultiTaskDataset calibration) = all.Split(0.1, s.Seed);
        double loadSeconds = clock.Elapsed.TotalSeconds;
        string[] tasks = train.Tasks.Select(t => t.Name).ToArray();
        WidthConfiguration[] configurations = Configurations.Select(WidthConfiguration.Parse).ToArray();
        Log($"data: {train.Count} train, {calibration.Count} calibration, {test.Count} test images in {loadSeconds:0.0} s");

        // Tensors for latency: the first 1 and 32 test images.
        using Tensor x1 = Images(test, 1);
        using Tensor x32 = Images(test, 32);

        // 1. The supernet and the ablation without CI-KD.
        (ControllableMultiTaskModel supernet, double superWall, double superLoop) = TrainSupernet("supernet (CI-KD)", train, calibration, s, 1.0);
        (ControllableMultiTaskModel ablation, double ablWall, double ablLoop) = TrainSupernet("supernet without CI-KD", train, calibration, s, 0.0);
        CostTable costs = supernet.Costs;
        long served = costs.EncoderOptionCount * (long)Math.Pow(costs.DecoderWidths.Count, costs.TaskCount);

        // 2. One static network per configuration.
        var statics = new List<(WidthConfiguration Config, MultiTaskNetwork Network, double Wall, double Loop)>();
        foreach (WidthConfiguration c in configurations)
        {
            (MultiTaskNetwork net, double wall, double loop) = TrainStatic($"static {c}", train, s, c);
            statics.Add((c, net, wall, loop));
        }

        // 3. Single-task networks, full width.
        var singles = new List<(string Task, MultiTaskNetwork Network, double Wall, double Loop)>();
        foreach (string task in tasks)
        {
            (MultiTaskNetwork net, double wall, double loop) = TrainStatic($"single-task {task}", train.SelectTasks(task), s, WidthConfiguration.Uniform(1.0, 1));
            singles.Add((task, net, wall, loop));
        }

        // 4. ML.NET built-in trainer per task.
        var mlnet = new List<MLNetBaselineResult>();
        for (int t = 0; t < tasks.Length; t++)
        {
            Log($"ML.NET {s.MLNetTrainer} on task {tasks[t]} ...");
            MLNetBaselineResult r = MLNetBaseline.Run(train, test, t, s.MLNetTrainer, s.Seed, Math.Max(50, s.LatencyRounds * 2));
            mlnet.Add(r);
            Log($"  accuracy {r.Accuracy:P2}, fit {r.TrainWallSeconds:0.0} s, PredictionEngine {r.PredictionEngineLatencyB1Ms:0.000} ms/row");
        }

        // 5. Accuracy on the test split.
        Log("evaluating ...");
        Dictionary<string, double> Acc(double[] a, string[] names) => names.Select((n, i) => (n, a[i])).ToDictionary(p => p.n, p => p.Item2);
        double[][] superAcc = configurations.Select(c => supernet.Evaluate(test, c)).ToArray();
        double[][] ablAcc = configurations.Select(c => ablation.Evaluate(test, c)).ToArray();
        double[][] staticAcc = statics.Select(st => NetworkEvaluator.Accuracy(st.Network, test, st.Config)).ToArray();
        double[] singleAcc = singles.Select(st => NetworkEvaluator.Accuracy(st.Network, test.SelectTasks(st.Task), WidthConfiguration.Uniform(1.0, 1))[0]).ToArray();

        // 6. Latency: every network at its configurations, batch 1 and 32, all interleaved in one loop.
        Log($"latency: {s.LatencyRounds} interleaved rounds of every forward pass ...");
        var actions = new List<Action>();
        foreach (WidthConfiguration c in configurations)
        {
            actions.Add(Timing.Forward(supernet.Network, x1, c));
            actions.Add(Timing.Forward(supernet.Network, x32, c));
        }
        foreach (var st in statics)
        {
            actions.Add(Timing.Forward(st.Network, x1, st.Config));
            actions.Add(Timing.Forward(st.Network, x32, st.Config));
        }
        foreach (var st in singles)
        {
            actions.Add(Timing.Forward(st.Network, x1, WidthConfiguration.Uniform(1.0, 1)));
            actions.Add(Timing.Forward(st.Network, x32, WidthConfiguration.Uniform(1.0, 1)));
        }
        double[] lat;
        using (no_grad())
            lat = Timing.Interleaved(actions, s.LatencyRounds, 3).Select(Timing.Median).ToArray();

        // 7. Assemble.
        long full = costs.FullMacs;
        int n = configurations.Length;
        ConfigurationResult SuperRow(int i, double[] acc, bool withLatency) => new(configurations[i].ToString(), costs.Macs(configurations[i]),
            (double)costs.Macs(configurations[i]) / full, Acc(acc, tasks), withLatency ? lat[2 * i] : null, withLatency ? lat[2 * i + 1] : null);
        var superResult = new SupernetResult("supernet (sandwich + CI-KD, lambda = 1)", 1.0, superWall, superLoop, served,
            Enumerable.Range(0, n).Select(i => SuperRow(i, superAcc[i], true)).ToArray());
        var ablResult = new SupernetResult("supernet without CI-KD (lambda = 0)", 0.0, ablWall, ablLoop, served,
            Enumerable.Range(0, n).Select(i => SuperRow(i, ablAcc[i], false)).ToArray());
        var staticResults = statics.Select((st, i) => new ConfigurationResult(st.Config.ToString(), st.Network.Macs(st.Config),
            (double)st.Network.Macs(st.Config) / full, Acc(staticAcc[i], tasks), lat[2 * n + 2 * i], lat[2 * n + 2 * i + 1], st.Wall, st.Loop)).ToArray();
        var singleResults = singles.Select((st, i) => new SingleTaskResult(st.Task, st.Network.Macs(WidthConfiguration.Uniform(1.0, 1)), singleAcc[i],
            lat[4 * n + 2 * i], lat[4 * n + 2 * i + 1], st.Wall, st.Loop)).ToArray();

        Dictionary<string, double> Points(double[] a, double[] b) => tasks.Select((t, k) => (t, 100 * (a[k] - b[k]))).ToDictionary(p => p.t, p => p.Item2);
        var checks = new DerivedChecks(
            Points(superAcc[FullIndex], staticAcc[FullIndex]),
            Points(superAcc[SmallestIndex], staticAcc[SmallestIndex]),
            Points(ablAcc[FullIndex], superAcc[FullIndex]),
            Points(ablAcc[SmallestIndex], superAcc[SmallestIndex]),
            Points(superAcc[FullIndex], singleAcc),
            superWall / statics[FullIndex].Wall,
            superLoop / statics[FullIndex].Loop,
            superWall / statics.Sum(st => st.Wall),
            lat[2 * SmallestIndex + 1] / lat[2 * FullIndex + 1],
            (double)costs.SmallestMacs / full);

        var report = new CompareReport(machine, s, s.Quick ? "QUICK smoke run (small counts, not a result)" : "full run", tasks,
            train.Count, calibration.Count, test.Count, loadSeconds, superResult, ablResult, staticResults, singleResults, mlnet, checks,
            total.Elapsed.TotalSeconds);

        foreach (var st in statics) st.Network.Dispose();
        foreach (var st in singles) st.Network.Dispose();
        supernet.Dispose();
        ablation.Dispose();

        PrintConsole(report);
        // Quick runs get their own file names, so a smoke run never overwrites (or passes for) a real run's report.
        (string json, string md) = Write(s.Out, s.Quick ? "compare-quick" : "compare", report, Markdown(report));
        Log($"wrote {json} and {md}; total {report.TotalSeconds:0.0} s");
        return 0;
    }

    private static (ControllableMultiTaskModel Model, double Wall, double Loop) TrainSupernet(string label, MultiTaskDataset train,
        MultiTaskDataset calibration, CompareSettings s, double distillationWeight)
    {
        Log($"training {label} ...");
        var options = new ModelOptions { Training = Training(s) };
        options.Training.DistillationWeight = distillationWeight;
        options.Training.SandwichMiddleEncoders = s.SandwichMiddleEncoders;
        options.Training.InplaceDistillationWeight = s.InplaceDistillationWeight;
        options.Training.SandwichFinalEpochExtraCount = s.SandwichFinalEpochExtraCount;
        var progress = new ConsoleProgress(label);
        var clock = Stopwatch.StartNew();
        ControllableMultiTaskModel model = ModelTrainer.Train(train, calibration, options, progress);
        double wall = clock.Elapsed.TotalSeconds;
        Log($"  {label}: {wall:0.0} s wall ({progress.LoopSeconds:0.0} s training loop)");
        return (model, wall, progress.LoopSeconds);
    }

    private static (MultiTaskNetwork Network, double Wall, double Loop) TrainStatic(string label, MultiTaskDataset train, CompareSettings s,
        WidthConfiguration configuration)
    {
        Log($"training {label} ...");
        var modelOptions = new ModelOptions();
        TrainingOptions training = Training(s);
        training.FixedConfiguration = configuration;
        var clock = Stopwatch.StartNew();
        MultiTaskNetwork network = SupernetTrainer.CreateNetwork(modelOptions.NetworkFor(train.Tasks, train.Channels, train.Height, train.Width), s.Seed);
        TrainingSummary summary = SupernetTrainer.Train(network, train, training, new ConsoleProgress(label));
        double wall = clock.Elapsed.TotalSeconds;
        Log($"  {label}: {wall:0.0} s wall ({summary.TrainingTime.TotalSeconds:0.0} s training loop)");
        return (network, wall, summary.TrainingTime.TotalSeconds);
    }

    /// <summary>Default training options with the run's epochs and seed (a new object per network).</summary>
    private static TrainingOptions Training(CompareSettings s) =>
        new() { Epochs = s.Epochs, Seed = s.Seed, ProgressEverySteps = 100, PostStatisticsImages = s.PostStatisticsImages };

    private static Tensor Images(MultiTaskDataset data, int count)
    {
        if (data.Count < count) throw new ArgumentException($"Latency needs at least {count} test images; got {data.Count}.");
        return tensor(data.Images.AsSpan(0, count * data.ImageSize).ToArray(), [count, data.Channels, data.Height, data.Width]);
    }

    private static void Log(string message) =>
        AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss}[/] {message}");

    /// <summary>Synchronous progress sink: prints epoch ends and remembers the training-loop time.</summary>
    private sealed class ConsoleProgress(string label) : IProgress<TrainingProgress>
    {
        public double LoopSeconds { get; private set; }

        public void Report(TrainingProgress value)
        {
            if (!value.IsEpochEnd) return;
            LoopSeconds = value.Elapsed.TotalSeconds;
            Log($"  {label}: {value}");
        }
    }

    // ---- output ---------------------------------------------------------------------------------------------------

    private static string Acc(ConfigurationResult r, string task) => F(100 * r.Accuracy[task], "0.00");

    private static string Ms(double? v, string format = "0.000") => v is double d ? F(d, format) : "(same network)";

    private static string Signed(double v, string format = "+0.00;-0.00;0.00") => F(v, format);

    private static void PrintConsole(CompareReport r)
    {
        string[] tasks = r.Tasks.ToArray();
        var table = new Table().Title("Test accuracy (%) per configuration").AddColumn("configuration").AddColumn("MACs");
        foreach (string t in tasks) table.AddColumn($"supernet {t}");
        foreach (string t in tasks) table.AddColumn($"no CI-KD {t}");
        foreach (string t in tasks) table.AddColumn($"static {t}");
        table.AddColumn("b1 ms").AddColumn("b32 ms");
        for (int i = 0; i < r.Supernet.Configurations.Count; i++)
        {
            ConfigurationResult sp = r.Supernet.Configurations[i], ab = r.AblationWithoutCiKd.Configurations[i], st = r.StaticNetworks[i];
            var cells = new List<string> { sp.Configuration, M(sp.Macs) };
            cells.AddRange(tasks.Select(t => Acc(sp, t)));
            cells.AddRange(tasks.Select(t => Acc(ab, t)));
            cells.AddRange(tasks.Select(t => Acc(st, t)));
            cells.Add(Ms(sp.LatencyB1Ms));
            cells.Add(Ms(sp.LatencyB32Ms));
            table.AddRow(cells.Select(Markup.Escape).ToArray());
        }
        AnsiConsole.Write(table);
        var other = new Table().Title("Baselines").AddColumns("model", "task", "accuracy %", "MACs", "b1 ms", "b32 ms", "train s");
        foreach (SingleTaskResult st in r.SingleTaskNetworks)
            other.AddRow("single-task net (full width)", st.Task, F(100 * st.Accuracy), M(st.Macs), F(st.LatencyB1Ms, "0.000"), F(st.LatencyB32Ms, "0.000"), F(st.TrainWallSeconds, "0.0"));
        foreach (MLNetBaselineResult m in r.MLNetBaselines)
            other.AddRow($"ML.NET {m.Trainer} (PredictionEngine)", m.Task, F(100 * m.Accuracy), "-", F(m.PredictionEngineLatencyB1Ms, "0.000"), "-", F(m.TrainWallSeconds, "0.0"));
        AnsiConsole.Write(other);
        foreach (string line in CheckLines(r)) AnsiConsole.WriteLine(line);
    }

    private static IEnumerable<string> CheckLines(CompareReport r)
    {
        DerivedChecks c = r.Checks;
        string PerTask(Dictionary<string, double> d) => string.Join(", ", d.Select(p => $"{p.Key} {Signed(p.Value)}"));
        yield return $"- Supernet full vs static full (points): {PerTask(c.SupernetFullMinusStaticFullPoints)}";
        yield return $"- Supernet smallest vs static smallest (points): {PerTask(c.SupernetSmallestMinusStaticSmallestPoints)}";
        yield return $"- Without CI-KD vs supernet, full (points): {PerTask(c.AblationFullMinusSupernetFullPoints)}";
        yield return $"- Without CI-KD vs supernet, smallest (points): {PerTask(c.AblationSmallestMinusSupernetSmallestPoints)}";
        yield return $"- Supernet full vs single-task networks (points): {PerTask(c.SupernetFullMinusSingleTaskPoints)}";
        yield return $"- Supernet training time / static-full training time: {F(c.SupernetOverStaticFullTrainWall)}x wall ({F(c.SupernetOverStaticFullTrainLoop)}x training loops only)";
        yield return $"- Supernet training time / all {r.StaticNetworks.Count} static networks together: {F(c.SupernetOverAllStaticsTrainWall)}x; the supernet serves {r.Supernet.ConfigurationsServed} configurations (E x W^T)";
        yield return $"- Smallest / full batch-32 latency: {F(c.SmallestOverFullLatencyB32, "0.000")}x (MACs ratio {F(c.SmallestOverFullMacs, "0.000")}x)";
    }

    private static string Markdown(CompareReport r)
    {
        string[] tasks = r.Tasks.ToArray();
        CompareSettings s = r.Settings;
        var md = new StringBuilder();
        md.AppendLine(s.Quick ? "# Compare — QUICK SMOKE RUN (small counts, 1 epoch: checks that the benchmark works; not a result)" : "# Compare — supernet vs. the alternatives");
        md.AppendLine().Append(r.Machine.ToMarkdown()).AppendLine();
        md.AppendLine($"Data: Multi-(Fashion+MNIST), seed {s.Seed}. {r.TrainImages + r.CalibrationImages} train-split images loaded: {r.TrainImages} train every network, " +
            $"{r.CalibrationImages} are held out for the supernets' calibration table; accuracy on {r.TestImages} test-split images. " +
            $"Every network: small conv net, default options, {s.Epochs} epoch(s), seed {s.Seed}, batch-norm post-statistics on {s.PostStatisticsImages} images; supernets: SandwichMiddleEncoders {s.SandwichMiddleEncoders}, InplaceDistillationWeight {F(s.InplaceDistillationWeight, "0.##")}, SandwichRandomCount {new TrainingOptions().SandwichRandomCount} + SandwichFinalEpochExtraCount {s.SandwichFinalEpochExtraCount} in the last epoch. Data loading took {F(r.DataLoadSeconds, "0.0")} s; the whole run {F(r.TotalSeconds, "0")} s.");
        md.AppendLine();
        md.AppendLine("Latency: median ms of a forward pass (`no_grad`, input tensor ready) over " +
            $"{s.LatencyRounds} rounds, all networks and batch sizes interleaved in one loop, in this process. " +
            "The no-CI-KD supernet is the same architecture as the supernet (same layers at each configuration), so its latency is not measured again.");
        md.AppendLine();

        md.AppendLine("## Accuracy (%) per configuration");
        md.AppendLine();
        var head = new List<string> { "configuration", "MACs", "of full" };
        head.AddRange(tasks.Select(t => $"supernet {t}"));
        head.AddRange(tasks.Select(t => $"no CI-KD {t}"));
        head.AddRange(tasks.Select(t => $"static {t}"));
        head.AddRange(["supernet b1 ms", "supernet b32 ms", "static b1 ms", "static b32 ms", "static train s"]);
        md.AppendLine("| " + string.Join(" | ", head) + " |");
        md.AppendLine("|" + string.Concat(head.Select((_, i) => i == 0 ? "---|" : "---:|")));
        for (int i = 0; i < r.Supernet.Configurations.Count; i++)
        {
            ConfigurationResult sp = r.Supernet.Configurations[i], ab = r.AblationWithoutCiKd.Configurations[i], st = r.StaticNetworks[i];
            var cells = new List<string> { $"`{sp.Configuration}`", M(sp.Macs), F(100 * sp.MacsFraction, "0.0") + " %" };
            cells.AddRange(tasks.Select(t => Acc(sp, t)));
            cells.AddRange(tasks.Select(t => Acc(ab, t)));
            cells.AddRange(tasks.Select(t => Acc(st, t)));
            cells.AddRange([Ms(sp.LatencyB1Ms), Ms(sp.LatencyB32Ms), Ms(st.LatencyB1Ms), Ms(st.LatencyB32Ms), F(st.TrainWallSeconds ?? double.NaN, "0.0")]);
            md.AppendLine("| " + string.Join(" | ", cells) + " |");
        }
        md.AppendLine();
        md.AppendLine("Static networks: `SupernetTrainer` with `TrainingOptions.FixedConfiguration` = that configuration (one network per row, the \"one model per scenario\" alternative; same MACs as the supernet at that configuration).");
        md.AppendLine();

        md.AppendLine("## Training time");
        md.AppendLine();
        md.AppendLine("| model | wall s | training loop s | configurations served |");
        md.AppendLine("|---|---:|---:|---:|");
        md.AppendLine($"| {r.Supernet.Name} | {F(r.Supernet.TrainWallSeconds, "0.0")} | {F(r.Supernet.TrainLoopSeconds, "0.0")} | {r.Supernet.ConfigurationsServed} |");
        md.AppendLine($"| {r.AblationWithoutCiKd.Name} | {F(r.AblationWithoutCiKd.TrainWallSeconds, "0.0")} | {F(r.AblationWithoutCiKd.TrainLoopSeconds, "0.0")} | {r.AblationWithoutCiKd.ConfigurationsServed} |");
        foreach (ConfigurationResult st in r.StaticNetworks)
            md.AppendLine($"| static `{st.Configuration}` | {F(st.TrainWallSeconds ?? double.NaN, "0.0")} | {F(st.TrainLoopSeconds ?? double.NaN, "0.0")} | 1 |");
        md.AppendLine($"| all {r.StaticNetworks.Count} static networks | {F(r.StaticNetworks.Sum(x => x.TrainWallSeconds ?? 0), "0.0")} | {F(r.StaticNetworks.Sum(x => x.TrainLoopSeconds ?? 0), "0.0")} | {r.StaticNetworks.Count} |");
        md.AppendLine();
        md.AppendLine("Supernet wall time = `ModelTrainer.Train`: training loop + batch-norm post-statistics + calibration table. Static wall time = building + `SupernetTrainer.Train` (training loop + batch-norm post-statistics).");
        md.AppendLine();

        md.AppendLine("## Single-task networks and ML.NET built-in trainers");
        md.AppendLine();
        md.AppendLine("| model | task | accuracy % | MACs | b1 ms | b32 ms | train s |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (SingleTaskResult st in r.SingleTaskNetworks)
            md.AppendLine($"| single-task network, full width | {st.Task} | {F(100 * st.Accuracy)} | {M(st.Macs)} | {F(st.LatencyB1Ms, "0.000")} | {F(st.LatencyB32Ms, "0.000")} | {F(st.TrainWallSeconds, "0.0")} |");
        foreach (MLNetBaselineResult m in r.MLNetBaselines)
            md.AppendLine($"| ML.NET {m.Trainer} on the {r.TrainImages} x 784 pixels | {m.Task} | {F(100 * m.Accuracy)} | - | {F(m.PredictionEngineLatencyB1Ms, "0.000")} (PredictionEngine) | - | {F(m.TrainWallSeconds, "0.0")} |");
        md.AppendLine();

        md.AppendLine("## Derived checks");
        md.AppendLine();
        foreach (string line in CheckLines(r)) md.AppendLine(line);
        return md.ToString();
    }
}
