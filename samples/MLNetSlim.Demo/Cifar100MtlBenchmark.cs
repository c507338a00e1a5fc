using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Datasets;
using MLNetSlim.Evaluation;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Training;

namespace MLNetSlim.Demo;

/// <summary>Settings of the <c>cifar100-mtl</c> command (docs/benchmarks-paper.md).</summary>
/// <param name="Data">Folder with the CIFAR-100 binary files (train.bin, test.bin).</param>
/// <param name="Device">Torch device: cpu, cuda or cuda:N.</param>
/// <param name="Backbone">small or resnet.</param>
/// <param name="Epochs">Training epochs.</param>
/// <param name="BatchSize">Images per step.</param>
/// <param name="LearningRate">Peak learning rate.</param>
/// <param name="TrainCount">Training rows (first ones; null: all 50,000).</param>
/// <param name="TestCount">Test rows (null: all 10,000).</param>
/// <param name="Seed">Training seed.</param>
/// <param name="SingleTaskBaselines">Also train one single-task network per superclass (same backbone and schedule) and
/// report Delta-MTL against them.</param>
/// <param name="PreferenceVectors">Dirichlet(0.2) preference vectors per budget for the controllability comparison.</param>
/// <param name="Out">Output folder (model.zip, report.json, report.md).</param>
/// <param name="ValidationFraction">Share of the training rows held out for the calibration table (every task needs
/// labelled held-out rows).</param>
public sealed record Cifar100MtlSettings(string Data, string Device, string Backbone, int Epochs, int BatchSize, double LearningRate,
    int? TrainCount, int? TestCount, int Seed, bool SingleTaskBaselines, int PreferenceVectors, string Out, double ValidationFraction = 0.1)
    : IBenchmarkTrainingSettings;

/// <summary>The report of the <c>cifar100-mtl</c> command.</summary>
public sealed record Cifar100MtlReport(string Device, string Backbone, int Epochs, int TrainRows, int TestRows, long FullMacs,
    IReadOnlyDictionary<string, double> TestAccuracy, double MeanTestAccuracy,
    IReadOnlyList<BudgetAccuracy> Budgets, double SearchSpearman, double BaselineSpearman, double SearchHypervolume,
    double BaselineHypervolume, double BudgetAdherence, IReadOnlyDictionary<string, double>? SingleTaskAccuracy, double? DeltaMtlPercent);

/// <summary>Mean test accuracy at one budget with equal task weights.</summary>
public sealed record BudgetAccuracy(double Budget, string Configuration, double MacsFraction, double MeanTestAccuracy);

/// <summary>
/// CIFAR100-MTL with the product: the estimator on <see cref="Cifar100Mtl.LoadDataView"/> (20 tasks, one labelled per
/// row), per-task test accuracy at the full network and at budgets, the controllability comparison (ECMT search vs the
/// equal-width baseline, scored on a calibration table measured on the test split), and optionally Delta-MTL against 20
/// single-task networks.
/// </summary>
public static class Cifar100MtlBenchmark
{
    /// <summary>Budgets (fraction of the full network's MACs) of the report.</summary>
    public static readonly double[] BudgetFractions = [0.4, 0.6, 0.8, 1.0];

    /// <summary>Runs the benchmark and writes report.json, report.md and model.zip into <see cref="Cifar100MtlSettings.Out"/>.</summary>
    public static Cifar100MtlReport Run(Cifar100MtlSettings s, Action<string> log, CancellationToken ct = default)
    {
        Directory.CreateDirectory(s.Out);
        var ml = new MLContext(seed: s.Seed).AddMLNetSlim();
        IDataView train = Cifar100Mtl.LoadDataView(DataSplit.Train, s.Data, s.TrainCount);
        MultiTaskDataset test = Cifar100Mtl.Load(DataSplit.Test, s.Data, s.TestCount);
        log($"CIFAR100-MTL: {train.GetRowCount()} training rows, {test.Count} test rows, 20 tasks; device {s.Device}, backbone {s.Backbone}, {s.Epochs} epochs");

        ControllableMultiTaskModel model = Train(ml, train, Cifar100Mtl.Tasks.Select(t => t.Name).ToArray(), s, ct, out ITransformer transformer);
        ml.Model.SaveAtomic(transformer, train.Schema, Path.Combine(s.Out, "model.zip"));

        Dictionary<string, double>? single = null;
        if (s.SingleTaskBaselines)
        {
            single = new Dictionary<string, double>();
            foreach (var task in Cifar100Mtl.Tasks)
            {
                ct.ThrowIfCancellationRequested();
                ControllableMultiTaskModel one = Train(ml, train, [task.Name], s, ct, out _);
                single[task.Name] = one.Evaluate(test.SelectTasks(task.Name), one.Costs.Full.Widths)[0];
                log($"single-task {task.Name}: {single[task.Name]:0.0000}");
            }
        }
        return Report(model, test, s, (int)(train.GetRowCount() ?? 0), single, log);
    }

    /// <summary>Measures a trained 20-task model on the test rows and writes report.json and report.md: per-task
    /// accuracy at the full network, mean accuracy at <see cref="BudgetFractions"/> with equal weights, the
    /// controllability comparison scored on a calibration table measured on the test rows, and Delta-MTL against
    /// <paramref name="singleTaskAccuracy"/> when given.</summary>
    public static Cifar100MtlReport Report(ControllableMultiTaskModel model, MultiTaskDataset test, Cifar100MtlSettings s, int trainRows,
        IReadOnlyDictionary<string, double>? singleTaskAccuracy, Action<string> log)
    {
        Directory.CreateDirectory(s.Out);
        double[] accuracy = model.Evaluate(test, model.Costs.Full.Widths);
        var perTask = Cifar100Mtl.Tasks.Select((t, i) => (t.Name, accuracy[i])).ToDictionary(p => p.Name, p => p.Item2);
        log($"test accuracy at the full network: mean {accuracy.Average():0.0000}");

        CalibrationTable testTable = ModelTrainer.Calibrate(model.Network, test, s.Device);
        double[] equal = Enumerable.Repeat(1.0 / 20, 20).ToArray();
        var budgets = new List<BudgetAccuracy>();
        foreach (double b in BudgetFractions)
        {
            SearchResult r = model.Search.Search(Budget.FractionOfFull(b), equal);
            int e = model.Costs.EncoderOptionOf(r.Configuration);
            int[] d = r.Configuration.DecoderWidths.Select(w => model.Costs.DecoderWidths.IndexOf(w)).ToArray();
            double mean = Enumerable.Range(0, 20).Average(t => testTable.Metric(t, e, d[t]));
            budgets.Add(new BudgetAccuracy(b, r.Configuration.ToString(), (double)r.Macs / model.Costs.FullMacs, mean));
        }
        var baseline = new EqualWidthController(model.Costs, model.Calibration);
        ControllabilityComparison cmp = ControllabilityEvaluator.Compare(model.Search, baseline,
            BudgetFractions.Select(Budget.FractionOfFull).ToArray(), s.PreferenceVectors, s.Seed, evaluation: testTable);
        double? delta = singleTaskAccuracy is null ? null
            : MultiTaskMetrics.DeltaMtl(accuracy, Cifar100Mtl.Tasks.Select(t => singleTaskAccuracy[t.Name]).ToArray(), Enumerable.Repeat(false, 20).ToArray());

        var report = new Cifar100MtlReport(s.Device, s.Backbone, s.Epochs, trainRows, test.Count, model.Costs.FullMacs,
            perTask, accuracy.Average(), budgets, cmp.Search.MeanSpearman, cmp.Baseline.MeanSpearman, cmp.Search.MeanHypervolume,
            cmp.Baseline.MeanHypervolume, cmp.Search.BudgetAdherence, singleTaskAccuracy, delta);
        File.WriteAllText(Path.Combine(s.Out, "report.json"), JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(s.Out, "report.md"), Markdown(report));
        log($"wrote {Path.Combine(s.Out, "report.md")}");
        return report;
    }

    private static ControllableMultiTaskModel Train(MLContext ml, IDataView train, string[] tasks, Cifar100MtlSettings s, CancellationToken ct, out ITransformer transformer)
    {
        ControllableMultiTaskEstimator.Options options = s.EstimatorOptions(32, 32, ct);
        options.Tasks.AddRange(tasks.Select(t => new ControllableMultiTaskEstimator.TaskColumn(t)));
        transformer = ml.MulticlassClassification.Trainers.ControllableMultiTask(options).Fit(train);
        return (ControllableMultiTaskModel)transformer.GetControllableMultiTaskTransformer().Model;
    }

    private static string Markdown(Cifar100MtlReport r)
    {
        static string F(double v) => v.ToString("0.0000", CultureInfo.InvariantCulture);
        var md = new StringBuilder();
        md.AppendLine($"# CIFAR100-MTL ({r.Backbone}, {r.Epochs} epochs, device {r.Device})").AppendLine();
        md.AppendLine($"{r.TrainRows} training rows, {r.TestRows} test rows; full network {r.FullMacs:N0} MACs per image.").AppendLine();
        md.AppendLine($"Mean test accuracy at the full network: **{F(r.MeanTestAccuracy)}**.").AppendLine();
        md.AppendLine("| budget | configuration | MACs / full | mean test accuracy |").AppendLine("|---|---|---|---|");
        foreach (BudgetAccuracy b in r.Budgets) md.AppendLine($"| {F(b.Budget)} | `{b.Configuration}` | {F(b.MacsFraction)} | {F(b.MeanTestAccuracy)} |");
        md.AppendLine().AppendLine("Controllability (test-split calibration table; ECMT search vs equal-width baseline):").AppendLine();
        md.AppendLine($"Spearman {F(r.SearchSpearman)} vs {F(r.BaselineSpearman)}, hypervolume {F(r.SearchHypervolume)} vs {F(r.BaselineHypervolume)}, budget adherence {F(r.BudgetAdherence)}.").AppendLine();
        md.AppendLine("| task | test accuracy | single-task |").AppendLine("|---|---|---|");
        foreach ((string task, double a) in r.TestAccuracy)
            md.AppendLine($"| {task} | {F(a)} | {(r.SingleTaskAccuracy is { } st ? F(st[task]) : "-")} |");
        if (r.DeltaMtlPercent is double d) md.AppendLine().AppendLine($"Delta-MTL against the single-task networks: {d.ToString("+0.00;-0.00", CultureInfo.InvariantCulture)} %.");
        return md.ToString();
    }
}
