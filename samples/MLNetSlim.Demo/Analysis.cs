using System.Diagnostics;
using System.Text.Json.Serialization;
using Microsoft.ML;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Evaluation;
using MLNetSlim.Architecture;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Training;

namespace MLNetSlim.Demo;

/// <summary>A configuration's cost, latency and per-task test accuracy (fractions in [0, 1]).</summary>
public sealed record ConfigurationRow(string Name, string Configuration, long Macs, double FractionOfFull, double LatencyMs,
    IReadOnlyDictionary<string, double> TestAccuracy);

/// <summary>What the search chose for one budget and preference vector.</summary>
public sealed record BudgetPreferenceRow(double Budget, string Preference, IReadOnlyList<double> Preferences, string Configuration,
    long Macs, double FractionOfFull, double LatencyMs, IReadOnlyDictionary<string, double> TestAccuracy,
    IReadOnlyDictionary<string, double> PredictedRelativePerformance);

/// <summary>One step of the preference sweep at a fixed budget.</summary>
public sealed record SweepRow(double FirstTaskPreference, string Configuration, double EncoderWidth, IReadOnlyList<double> DecoderWidths,
    long Macs, IReadOnlyDictionary<string, double> TestAccuracy);

/// <summary>The preference sweep at one budget (fraction of full MACs).</summary>
public sealed record BudgetSweep(double Budget, IReadOnlyList<SweepRow> Rows);

/// <summary>Controllability of the search vs the equal-width baseline.</summary>
internal sealed record ControllabilitySection(string SearchCalibration, string EvaluatedOn, IReadOnlyList<double> Budgets,
    int PreferenceVectors, double DirichletAlpha, int Seed, ControllabilityComparison Comparison);

/// <summary>Every configuration of the space with its test accuracy, and each task's accuracy/MACs Pareto front. The
/// report's JSON carries only the front points (<see cref="ParetoFrontPoints"/>): with fine decoder widths the space
/// has thousands of configurations, which the main job writes to configurations.csv instead.</summary>
public sealed record ConfigurationSpaceSection(string Source, int TestImages, int Count,
    double MaxAbsDifferenceToDirectEvaluation, int DirectlyEvaluatedConfigurations,
    [property: JsonIgnore] IReadOnlyList<ConfigurationPoint> Points, IReadOnlyDictionary<string, IReadOnlyList<string>> ParetoFronts)
{
    /// <summary>The points on any task's Pareto front, in space order.</summary>
    public IReadOnlyList<ConfigurationPoint> ParetoFrontPoints
    {
        get
        {
            var names = ParetoFronts.Values.SelectMany(f => f).ToHashSet(StringComparer.Ordinal);
            return Points.Where(p => names.Contains(p.Configuration.ToString())).ToArray();
        }
    }
}

/// <summary>How often the paper's rule held at one budget over the controllability queries: "a larger computational
/// budget to the higher preferred task decoder" (ECMT, ICCV 2023), read as: for every pair of tasks with p_i &gt; p_j,
/// task i's decoder has at least as many MACs as task j's. The search guarantees only its monotone form (raising a
/// task's preference never shrinks its decoder; docs/control.md section 2).</summary>
/// <param name="Budget">Fraction of full MACs.</param>
/// <param name="Queries">Preference vectors queried (the controllability section's Dirichlet vectors).</param>
/// <param name="Holds">Queries for which the rule held.</param>
/// <param name="Exceptions">Up to 5 of the others: preferences and the chosen configuration.</param>
public sealed record PaperRuleRow(double Budget, int Queries, int Holds, IReadOnlyList<string> Exceptions);

/// <summary>Wall time of one measurement stage of the demo.</summary>
public sealed record MeasurementStage(string Stage, double Seconds);

/// <summary>Everything the demo measures after training (or loading) a model.</summary>
internal sealed record AnalysisResult(
    IReadOnlyList<ConfigurationRow> Configurations,
    IReadOnlyList<BudgetPreferenceRow> BudgetPreference,
    ControllabilitySection Controllability,
    ConfigurationSpaceSection Space,
    double SweepBudget,
    IReadOnlyList<SweepRow> PreferenceSweep,
    IReadOnlyList<BudgetSweep> PreferenceSweeps,
    TimeSpan Elapsed,
    IReadOnlyList<MeasurementStage> Stages,
    IReadOnlyList<PaperRuleRow> PaperRule);

/// <summary>Runs the measurements on a model and a test set, caching one evaluation and one latency per configuration.</summary>
internal sealed class Analyzer
{
    /// <summary>Budgets of the budget x preference table, fractions of full MACs.</summary>
    public static readonly double[] TableBudgets = [0.3, 0.5, 0.7, 1.0];

    /// <summary>Steps of each preference sweep (first task's preference 0, 0.05, .., 1).</summary>
    public const int SweepSteps = 21;

    /// <summary>Budgets of the controllability comparison and of the preference sweeps, fractions of full MACs.</summary>
    public static readonly double[] ControllabilityBudgets = [0.3, 0.5, 0.7];

    private readonly ControllableMultiTaskModel _model;
    private readonly MultiTaskDataset _test;
    private readonly int _latencyRepeats;
    private readonly Dictionary<WidthConfiguration, double[]> _accuracy = new();
    private readonly Dictionary<WidthConfiguration, double> _latency = new();

    /// <summary>Creates the analyser.</summary>
    public Analyzer(ControllableMultiTaskModel model, MultiTaskDataset test, int latencyRepeats = 25)
    {
        _model = model;
        _test = test;
        _latencyRepeats = latencyRepeats;
    }

    private IReadOnlyList<string> TaskNames => _model.Costs.TaskNames;

    /// <summary>Per-task test accuracy of a configuration (model.Evaluate on the whole test set; cached).</summary>
    public double[] Accuracy(WidthConfiguration c)
    {
        if (!_accuracy.TryGetValue(c, out double[]? acc)) _accuracy[c] = acc = _model.Evaluate(_test, c);
        return acc;
    }

    /// <summary>Per-task test accuracy of a configuration read from the per-factor test table (task t at (e, d_t); exact,
    /// docs/control.md section 1), or evaluated directly when there is no table yet.</summary>
    private double[] TableAccuracy(WidthConfiguration c)
    {
        if (_testTable is null) return Accuracy(c);
        ResolvedConfiguration r = _model.Costs.Resolve(c);
        return Enumerable.Range(0, _model.Costs.TaskCount).Select(t => _testTable.Metric(t, r.EncoderOption, r.DecoderWidthIndices[t])).ToArray();
    }

    private CalibrationTable? _testTable;

    /// <summary>Median wall time of one batch-1 <c>Predict</c> call at a configuration, ms (cached).</summary>
    public double LatencyMs(WidthConfiguration c)
    {
        if (_latency.TryGetValue(c, out double ms)) return ms;
        int size = _model.Channels * _model.Height * _model.Width;
        ReadOnlySpan<float> image = _test.Images.AsSpan(0, size);
        for (int i = 0; i < 3; i++) _model.Predict(image, 1, c);
        var samples = new double[_latencyRepeats];
        for (int i = 0; i < samples.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            _model.Predict(image, 1, c);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(samples);
        return _latency[c] = samples[samples.Length / 2];
    }

    private Dictionary<string, double> ByTask(IReadOnlyList<double> values) =>
        TaskNames.Select((t, i) => (t, values[i])).ToDictionary(x => x.t, x => x.Item2, StringComparer.Ordinal);

    /// <summary>Table a: showcase configurations.</summary>
    public IReadOnlyList<ConfigurationRow> Configurations()
    {
        CostTable costs = _model.Costs;
        return ConfigurationSpace.Showcase(costs.EncoderWidths, costs.DecoderWidths, costs.TaskCount).Select(x =>
        {
            long macs = costs.Macs(x.Configuration);
            return new ConfigurationRow(x.Name, x.Configuration.ToString(), macs, (double)macs / costs.FullMacs,
                LatencyMs(x.Configuration), ByTask(Accuracy(x.Configuration)));
        }).ToArray();
    }

    /// <summary>Table b: budgets x named preferences (test accuracy from the per-factor test table once <see cref="Run"/> has
    /// measured it, else evaluated directly).</summary>
    public IReadOnlyList<BudgetPreferenceRow> BudgetPreference()
    {
        var rows = new List<BudgetPreferenceRow>();
        foreach (double b in TableBudgets)
            foreach ((string name, double[] p) in ConfigurationSpace.NamedPreferences(TaskNames))
            {
                SearchResult r = _model.Select(Budget.FractionOfFull(b), p);
                rows.Add(new BudgetPreferenceRow(b, name, p, r.Configuration.ToString(), r.Macs, r.FractionOfFullMacs,
                    LatencyMs(r.Configuration), ByTask(TableAccuracy(r.Configuration)), ByTask(r.PredictedRelativePerformance)));
            }
        return rows;
    }

    /// <summary>Section c: controllability of the search vs the equal-width baseline; both search with the model's own
    /// calibration (held-out training data) and are scored with <paramref name="testTable"/>.</summary>
    public ControllabilitySection Controllability(CalibrationTable testTable, int preferenceVectors, int seed)
    {
        var baseline = new EqualWidthController(_model.Costs, _model.Calibration);
        Budget[] budgets = ControllabilityBudgets.Select(Budget.FractionOfFull).ToArray();
        const double alpha = 0.2;
        ControllabilityComparison cmp = ControllabilityEvaluator.Compare(_model.Search, baseline, budgets, preferenceVectors, seed, alpha, testTable);
        return new ControllabilitySection("model calibration (held-out training data)", $"test set ({_test.Count} images)",
            ControllabilityBudgets, preferenceVectors, alpha, seed, cmp);
    }

    /// <summary>Section c through ML.NET: <c>mlContext.MulticlassClassification.EvaluateControllability</c> on the labelled
    /// test view, at the budgets <see cref="ControllabilityBudgets"/> and <paramref name="preferenceVectors"/> seeded
    /// Dirichlet(0.2) preferences; its per-budget figures of the search and of the preference-blind baseline, as the
    /// report's comparison (the same figures as <see cref="Controllability(CalibrationTable, int, int)"/> on the same model:
    /// both score the queries with the accuracy table measured on the test images; a test checks they are equal).</summary>
    public static ControllabilitySection Controllability(MLContext ml, ControllableMultiTaskTransformer transformer, IDataView labelledTest,
        int testImages, int preferenceVectors, int seed) =>
        ControllabilityWithTable(ml, transformer, labelledTest, testImages, preferenceVectors, seed).Section;

    /// <summary><see cref="Controllability(MLContext, ControllableMultiTaskTransformer, IDataView, int, int, int)"/>, with
    /// the per-factor test table the evaluation measured (<see cref="ControllabilityEvaluation.MeasuredTable"/>).</summary>
    public static (ControllabilitySection Section, CalibrationTable TestTable) ControllabilityWithTable(MLContext ml,
        ControllableMultiTaskTransformer transformer, IDataView labelledTest, int testImages, int preferenceVectors, int seed)
    {
        const double alpha = 0.2;
        string[] tasks = transformer.Tasks.Select(t => t.Name).ToArray();
        Budget[] budgets = ControllabilityBudgets.Select(Budget.FractionOfFull).ToArray();
        IReadOnlyDictionary<string, double>[] preferences = ControllabilityEvaluator.Preferences(tasks.Length, preferenceVectors, seed, alpha)
            .Select(p => (IReadOnlyDictionary<string, double>)tasks.Select((t, i) => (t, p[i])).ToDictionary(x => x.t, x => x.Item2, StringComparer.Ordinal))
            .ToArray();
        // The figures read task performance from the measured per-factor table; the report does not use each point's
        // ML.NET metrics, whose passes through Transform (one per distinct configuration) would cost more than the table.
        ControllabilityEvaluation e = ml.MulticlassClassification.EvaluateControllability(labelledTest, transformer, budgets, preferences, seed: seed,
            pointMetrics: false);
        ControllabilityReport Report(ControllabilityFigures? f) => f is null
            ? throw new InvalidOperationException("The transformer's model has no calibration table, so there are no controllability figures.")
            : new ControllabilityReport(f.Controller, tasks.Length, f.PerBudget.Sum(b => b.Queries), preferenceVectors, alpha, seed, f.BudgetAdherence,
                f.MeanBudgetUtilisation, f.MeanSpearman, f.MeanUniformity, f.MeanHypervolume,
                f.PerBudget.Select(b => new BudgetControllability(b.Budget.ToString(), b.Budget.Unit.ToString(), b.Budget.Value, b.Queries,
                    b.BudgetAdherence, b.MeanBudgetUtilisation, b.MeanSpearman, b.MeanUniformity, b.Hypervolume, b.DistinctConfigurations)).ToArray());
        return (new ControllabilitySection("model calibration (held-out training data)", $"test set ({testImages} images)",
            ControllabilityBudgets, preferenceVectors, alpha, seed, new ControllabilityComparison(Report(e.Search), Report(e.Baseline))),
            e.MeasuredTable ?? throw new InvalidOperationException("The transformer's model has no calibration table, so there is no measured test table."));
    }

    /// <summary>The paper's rule (see <see cref="PaperRuleRow"/>) at each controllability budget, over the same seeded
    /// Dirichlet preference vectors as the controllability section.</summary>
    public IReadOnlyList<PaperRuleRow> PaperRule(int preferenceVectors, int seed, double alpha)
    {
        CostTable costs = _model.Costs;
        double[][] preferences = ControllabilityEvaluator.Preferences(costs.TaskCount, preferenceVectors, seed, alpha);
        return ControllabilityBudgets.Select(budget =>
        {
            int holds = 0;
            var exceptions = new List<string>();
            foreach (double[] p in preferences)
            {
                SearchResult r = _model.Select(Budget.FractionOfFull(budget), p);
                long[] macs = Enumerable.Range(0, costs.TaskCount)
                    .Select(t => costs.DecoderMacs(t, r.Selected.EncoderOption, r.Selected.DecoderWidthIndices[t])).ToArray();
                bool ok = true;
                for (int i = 0; i < p.Length; i++)
                    for (int j = 0; j < p.Length; j++)
                        if (p[i] > p[j] && macs[i] < macs[j]) ok = false;
                if (ok) holds++;
                else if (exceptions.Count < 5)
                    exceptions.Add($"p = ({string.Join(", ", p.Select(x => x.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)))}): {r.Configuration}");
            }
            return new PaperRuleRow(budget, preferences.Length, holds, exceptions);
        }).ToArray();
    }

    /// <summary>All E x W^T configurations with test accuracy from the per-factor test table, cross-checked against every
    /// configuration evaluated directly so far.</summary>
    public ConfigurationSpaceSection Space(CalibrationTable testTable)
    {
        IReadOnlyList<ConfigurationPoint> points = ConfigurationSpace.Enumerate(_model.Costs, testTable);
        double maxDiff = 0;
        foreach (ConfigurationPoint p in points)
            if (_accuracy.TryGetValue(p.Configuration, out double[]? direct))
                for (int t = 0; t < direct.Length; t++) maxDiff = Math.Max(maxDiff, Math.Abs(direct[t] - p.Metrics[t]));
        var fronts = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        for (int t = 0; t < TaskNames.Count; t++)
        {
            int task = t;
            fronts[TaskNames[t]] = ConfigurationSpace.ParetoFront(points, p => p.Macs, p => p.Metrics[task])
                .Select(p => p.Configuration.ToString()).ToArray();
        }
        return new ConfigurationSpaceSection(
            $"per-factor test calibration: task t's accuracy in (e, d) = its accuracy at (e, d_t), exact for independent decoders; " +
            $"{CalibrationTable.PassCount(_model.Costs)} evaluation passes over the whole test set instead of {points.Count}",
            _test.Count, points.Count, maxDiff, _accuracy.Count, points, fronts);
    }

    /// <summary>The preference sweep: weight of the first task from 0 to 1 in <paramref name="steps"/> steps (the rest shared
    /// equally by the other tasks) at budget <paramref name="budget"/>.</summary>
    public IReadOnlyList<SweepRow> Sweep(double budget, int steps = SweepSteps)
    {
        int n = TaskNames.Count;
        var rows = new List<SweepRow>();
        for (int i = 0; i < steps; i++)
        {
            double p0 = (double)i / (steps - 1);
            double[] p = n == 1 ? [1.0] : Enumerable.Range(0, n).Select(t => t == 0 ? p0 : (1 - p0) / (n - 1)).ToArray();
            SearchResult r = _model.Select(Budget.FractionOfFull(budget), p);
            rows.Add(new SweepRow(p0, r.Configuration.ToString(), r.Configuration.EncoderOutputWidth, r.Configuration.DecoderWidths,
                r.Macs, ByTask(TableAccuracy(r.Configuration))));
        }
        return rows;
    }

    /// <summary>Runs everything: the test calibration table, a, b, c, the sweep and the whole space. Section c comes
    /// from <paramref name="controllability"/> when given (the main job: through ML.NET's catalog method, whose measured
    /// per-factor test table is then reused for the sweeps and the space instead of measuring the test set twice), else
    /// from <see cref="Controllability(CalibrationTable, int, int)"/> on a test table measured here. The sweeps read
    /// accuracy from the test table; section b too when a table was measured first. Section a evaluates its configurations
    /// directly, which cross-checks the table (the space section reports the largest difference).</summary>
    public AnalysisResult Run(int preferenceVectors, int seed, Action<string> status,
        Func<(ControllabilitySection Section, CalibrationTable TestTable)>? controllability = null)
    {
        var clock = Stopwatch.StartNew();
        var stages = new List<MeasurementStage>();
        TimeSpan last = TimeSpan.Zero;
        void Stage(string name)
        {
            stages.Add(new MeasurementStage(name, (clock.Elapsed - last).TotalSeconds));
            last = clock.Elapsed;
        }
        ControllabilitySection c;
        if (controllability is not null)
        {
            status($"Controllability (mlContext.MulticlassClassification.EvaluateControllability: the per-factor test table, {CalibrationTable.PassCount(_model.Costs)} passes over {_test.Count} test images)");
            (c, _testTable) = controllability();
            Stage("controllability through ML.NET, incl. the per-factor test table");
        }
        else
        {
            status($"Test calibration table ({CalibrationTable.PassCount(_model.Costs)} passes over {_test.Count} test images)");
            _testTable = ModelTrainer.Calibrate(_model.Network, _test, _model.Device);
            Stage("per-factor test table");
            status("Controllability");
            c = Controllability(_testTable, preferenceVectors, seed);
            Stage("controllability");
        }
        status("Configurations: accuracy and batch-1 latency");
        IReadOnlyList<ConfigurationRow> a = Configurations();
        Stage("a: showcase configurations (direct evaluation and latency)");
        status("Budget x preference");
        IReadOnlyList<BudgetPreferenceRow> b = BudgetPreference();
        Stage("b: budget x preference (latency; accuracy from the test table)");
        status("Preference sweeps at budgets of 30, 50 and 70 % of full MACs");
        BudgetSweep[] sweeps = ControllabilityBudgets.Select(budget => new BudgetSweep(budget, Sweep(budget))).ToArray();
        IReadOnlyList<SweepRow> sweep = sweeps.Single(x => x.Budget == 0.5).Rows;
        Stage("preference sweeps (from the test table)");
        ConfigurationSpaceSection space = Space(_testTable);
        Stage("configuration space (from the test table)");
        IReadOnlyList<PaperRuleRow> rule = PaperRule(c.PreferenceVectors, c.Seed, c.DirichletAlpha);
        return new AnalysisResult(a, b, c, space, 0.5, sweep, sweeps, clock.Elapsed, stages, rule);
    }
}
