using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Evaluation;
using MLNetSlim.Model;

namespace MLNetSlim.MLNet;

/// <summary>One (budget, preference) point of <see cref="MLNetSlimEvaluation.EvaluateControllability"/>.</summary>
/// <param name="Budget">The budget.</param>
/// <param name="TaskWeights">The task preferences as given.</param>
/// <param name="Configuration">The width configuration the model's search chose.</param>
/// <param name="Macs">Its multiply-accumulates per image.</param>
/// <param name="FractionOfFullMacs">Macs / the full network's MACs.</param>
/// <param name="Metrics">Per classification task (by name), ML.NET's metrics of the model at this configuration on the
/// data (empty when the evaluation ran with <c>pointMetrics: false</c>).</param>
/// <param name="PerPixelMetrics">Per per-pixel task (by name), its metrics at this configuration on the data (empty
/// for a model of classification tasks only, or with <c>pointMetrics: false</c>).</param>
public sealed record ControllabilityPoint(Budget Budget, IReadOnlyDictionary<string, double> TaskWeights, WidthConfiguration Configuration,
    long Macs, double FractionOfFullMacs, IReadOnlyDictionary<string, MulticlassClassificationMetrics> Metrics,
    IReadOnlyDictionary<string, PerPixelMetrics> PerPixelMetrics);

/// <summary>Controllability of one controller over the evaluated budgets and preferences (the same figures as the
/// research evaluator, docs/control.md): the share of queries within budget (must be 1), the mean cost / budget, the
/// mean over tasks and budgets of Spearman(preference for a task, its relative performance), DYMU uniformity, and the
/// mean per-budget hypervolume of the normalised per-task performance; and the same figures per budget. Performance is
/// read from the accuracy table measured on the evaluation data.</summary>
/// <param name="Controller">"ecmt-search" (the model's search) or the preference-blind baseline's name.</param>
/// <param name="BudgetAdherence">Share of queries whose configuration is within its budget.</param>
/// <param name="MeanBudgetUtilisation">Mean cost / budget.</param>
/// <param name="MeanSpearman">Mean Spearman correlation between preferences and task performance.</param>
/// <param name="MeanUniformity">Mean DYMU uniformity.</param>
/// <param name="MeanHypervolume">Mean per-budget hypervolume (fraction of the unit cube).</param>
/// <param name="PerBudget">The figures of each budget, in the order the budgets were given.</param>
public sealed record ControllabilityFigures(string Controller, double BudgetAdherence, double MeanBudgetUtilisation, double MeanSpearman,
    double MeanUniformity, double MeanHypervolume, IReadOnlyList<ControllabilityBudgetFigures> PerBudget);

/// <summary>Controllability of one controller at one budget, over all the evaluated preferences.</summary>
/// <param name="Budget">The budget.</param>
/// <param name="Queries">Preferences queried at this budget.</param>
/// <param name="BudgetAdherence">Share of the queries whose configuration is within the budget (fraction; must be 1).</param>
/// <param name="MeanBudgetUtilisation">Mean cost(c) / budget (fraction).</param>
/// <param name="MeanSpearman">Mean over tasks of the Spearman correlation, across the queries, between the preference
/// for the task and its relative performance P_t(c) (0 for a task whose performance does not change).</param>
/// <param name="MeanUniformity">Mean DYMU uniformity, with task loss L = max(0, 1 - P(c)).</param>
/// <param name="Hypervolume">Hypervolume (fraction of the unit cube) of the chosen configurations' normalised per-task
/// performance points (exact for up to 3 tasks, Monte Carlo above).</param>
/// <param name="DistinctConfigurations">How many different configurations the queries produced.</param>
public sealed record ControllabilityBudgetFigures(Budget Budget, int Queries, double BudgetAdherence, double MeanBudgetUtilisation,
    double MeanSpearman, double MeanUniformity, double Hypervolume, int DistinctConfigurations);

/// <summary>The result of <see cref="MLNetSlimEvaluation.EvaluateControllability"/>.</summary>
/// <param name="Points">Per budget, per preference (budget-major order), the configuration, MACs and per-task metrics.</param>
/// <param name="Search">Controllability of the model's search; null when the model is not a
/// <see cref="ControllableMultiTaskModel"/> (a custom <see cref="IMultiTaskModel"/> has no calibration table).</param>
/// <param name="Baseline">The same figures for the preference-blind baseline (equal decoder widths, best mean
/// performance within the budget); null like <paramref name="Search"/>.</param>
/// <param name="MeasuredTable">The per-factor table the figures read task performance from: each task's primary
/// metric for every (encoder option, decoder width), measured on the evaluation data (exact for every configuration,
/// since task t's output depends only on the encoder option and its own decoder width; docs/control.md section 1).
/// Reuse it instead of measuring the data again (e.g. <c>CalibrationTable.Metric(t, e, d)</c> for any configuration);
/// null like <paramref name="Search"/>.</param>
public sealed record ControllabilityEvaluation(IReadOnlyList<ControllabilityPoint> Points, ControllabilityFigures? Search, ControllabilityFigures? Baseline,
    CalibrationTable? MeasuredTable = null);

/// <summary>
/// Evaluation of a controllable multi-task model in ML.NET terms: per classification task
/// <see cref="MulticlassClassificationMetrics"/> (exactly what <c>mlContext.MulticlassClassification.Evaluate</c> gives
/// per task), per per-pixel task <see cref="MLNet.PerPixelMetrics"/>, and the sweep over budgets and preferences with
/// the controllability figures against the preference-blind baseline.
/// </summary>
public static class MLNetSlimEvaluation
{
    /// <summary>
    /// Per classification task, ML.NET's multiclass metrics of a scored IDataView: for task T,
    /// <c>mlContext.MulticlassClassification.Evaluate(scored, labelColumnName, "Score.T", "PredictedLabel.T")</c>.
    /// Per-pixel tasks are left out: <see cref="EvaluatePerPixel"/> measures them.
    /// </summary>
    /// <param name="catalog"><c>mlContext.MulticlassClassification</c>.</param>
    /// <param name="scored">The output of the transformer (or a chain ending in it) on labelled data.</param>
    /// <param name="transformer">The transformer; its tasks, and the label columns it was trained on (a wrapped model:
    /// the task names).</param>
    /// <param name="labelColumnNames">Overrides the label column per task name; optional.</param>
    /// <returns>Classification task name -> metrics, in task order.</returns>
    /// <exception cref="ArgumentOutOfRangeException">A label or score column is missing (ML.NET's message names it).</exception>
    public static IReadOnlyDictionary<string, MulticlassClassificationMetrics> EvaluateControllableMultiTask(this MulticlassClassificationCatalog catalog,
        IDataView scored, ControllableMultiTaskTransformer transformer, IReadOnlyDictionary<string, string>? labelColumnNames = null)
    {
        ArgumentNullException.ThrowIfNull(transformer);
        return catalog.EvaluateControllableMultiTask(scored, transformer.Tasks.Where(t => !t.IsPerPixel).Select(t => t.Name).ToArray(),
            LabelColumns(transformer, labelColumnNames));
    }

    /// <summary>
    /// Per per-pixel task (segmentation, depth, normals, edges, saliency), its metrics over a scored IDataView: the
    /// transformer's <c>Score.T</c> column (per row (C, H, W) values) against the task's label-map column (per row
    /// L*H*W floats, as for training); one cursor pass. The computation is the core evaluator's (the calibration
    /// table's); see <see cref="MLNet.PerPixelMetrics"/> for each kind's metrics. Classification tasks:
    /// <see cref="EvaluateControllableMultiTask(MulticlassClassificationCatalog, IDataView, ControllableMultiTaskTransformer, IReadOnlyDictionary{string, string}?)"/>.
    /// </summary>
    /// <param name="catalog"><c>mlContext.MulticlassClassification</c>.</param>
    /// <param name="scored">The output of the transformer (or a chain ending in it) on data with the label-map columns.</param>
    /// <param name="transformer">The transformer; its tasks, image size and the label columns it was trained on (a
    /// wrapped model: the task names).</param>
    /// <param name="labelColumnNames">Overrides the label-map column per task name; optional.</param>
    /// <returns>Per-pixel task name -> metrics, in task order.</returns>
    /// <exception cref="ArgumentException">The transformer has no per-pixel task.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A score column is missing or not the transformer's (C, H, W), or a
    /// label-map column is missing or of another size (the message names the column, the expected and the actual type).</exception>
    public static IReadOnlyDictionary<string, PerPixelMetrics> EvaluatePerPixel(this MulticlassClassificationCatalog catalog,
        IDataView scored, ControllableMultiTaskTransformer transformer, IReadOnlyDictionary<string, string>? labelColumnNames = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(scored);
        ArgumentNullException.ThrowIfNull(transformer);
        if (!transformer.Tasks.Any(t => t.IsPerPixel))
            throw new ArgumentException(
                $"The transformer has no per-pixel task (its tasks: [{string.Join(", ", transformer.Tasks.Select(t => $"{t.Name}: {t.Kind}"))}]); " +
                "evaluate classification tasks with mlContext.MulticlassClassification.EvaluateControllableMultiTask.", nameof(transformer));
        return PerPixelMetrics.Evaluate(scored, transformer.Tasks, transformer.Model.Height, transformer.Model.Width, LabelColumns(transformer, labelColumnNames));
    }

    /// <summary>Per task, ML.NET's multiclass metrics of a scored IDataView, for a list of task names (label column =
    /// the task name unless <paramref name="labelColumnNames"/> says otherwise).</summary>
    /// <param name="catalog"><c>mlContext.MulticlassClassification</c>.</param>
    /// <param name="scored">Scored rows with <c>Score.T</c>, <c>PredictedLabel.T</c> and the label column per task.</param>
    /// <param name="tasks">Task names.</param>
    /// <param name="labelColumnNames">Label column per task name; optional.</param>
    /// <returns>Task name -> metrics, in the given order.</returns>
    public static IReadOnlyDictionary<string, MulticlassClassificationMetrics> EvaluateControllableMultiTask(this MulticlassClassificationCatalog catalog,
        IDataView scored, IReadOnlyList<string> tasks, IReadOnlyDictionary<string, string>? labelColumnNames = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(scored);
        ArgumentNullException.ThrowIfNull(tasks);
        var result = new Dictionary<string, MulticlassClassificationMetrics>(StringComparer.Ordinal);
        foreach (string task in tasks)
        {
            string label = labelColumnNames is not null && labelColumnNames.TryGetValue(task, out string? l) ? l : task;
            result[task] = catalog.Evaluate(scored, labelColumnName: label,
                scoreColumnName: ControllableMultiTaskTransformer.ScoreColumnName(task),
                predictedLabelColumnName: ControllableMultiTaskTransformer.PredictedLabelColumnName(task));
        }
        return result;
    }

    /// <summary>
    /// Evaluates <paramref name="transformer"/> on <paramref name="data"/> at every budget and every preference: per
    /// point the configuration its search chose, its MACs and, unless <paramref name="pointMetrics"/> is false, per-task
    /// ML.NET metrics (one pass over the data through <c>Transform</c> per distinct configuration);
    /// plus, for a <see cref="ControllableMultiTaskModel"/>, the controllability figures of its search and of the
    /// preference-blind baseline on the same queries, with task performance read from the accuracy table measured on
    /// <paramref name="data"/> (#encoder options x #widths decoder passes, streamed batch by batch). The transformer's
    /// own control is restored afterwards; do not predict with it concurrently.
    /// </summary>
    /// <param name="catalog"><c>mlContext.MulticlassClassification</c>.</param>
    /// <param name="data">Labelled rows with the transformer's features column and one key label column per task.</param>
    /// <param name="transformer">The trained transformer.</param>
    /// <param name="budgets">Budgets to query (each feasible).</param>
    /// <param name="preferences">Task weights per query (by task name; at least 2 for a meaningful Spearman).</param>
    /// <param name="labelColumnNames">Overrides the label column per task name; optional.</param>
    /// <param name="seed">Seeds the Monte Carlo hypervolume (more than 3 tasks); default 0.</param>
    /// <param name="pointMetrics">Whether to measure each point's ML.NET metrics (default true). False skips the passes
    /// through <c>Transform</c> (one per distinct configuration, often more work than the accuracy table itself): the
    /// points then have their configuration and MACs and empty <see cref="ControllabilityPoint.Metrics"/> and
    /// <see cref="ControllabilityPoint.PerPixelMetrics"/>; the figures and <see cref="ControllabilityEvaluation.MeasuredTable"/>
    /// are the same, and the table gives each point's primary metric per task.</param>
    /// <returns>The points and the figures, overall and per budget.</returns>
    /// <exception cref="ArgumentException">No budgets or preferences, an unknown task name, or a budget below the
    /// cheapest configuration.</exception>
    public static ControllabilityEvaluation EvaluateControllability(this MulticlassClassificationCatalog catalog, IDataView data,
        ControllableMultiTaskTransformer transformer, IReadOnlyList<Budget> budgets, IReadOnlyList<IReadOnlyDictionary<string, double>> preferences,
        IReadOnlyDictionary<string, string>? labelColumnNames = null, int seed = 0, bool pointMetrics = true)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(transformer);
        ArgumentNullException.ThrowIfNull(budgets);
        ArgumentNullException.ThrowIfNull(preferences);
        if (budgets.Count == 0) throw new ArgumentException("At least one budget is needed.", nameof(budgets));
        if (preferences.Count == 0) throw new ArgumentException("At least one preference is needed.", nameof(preferences));
        IReadOnlyDictionary<string, string> labels = LabelColumns(transformer, labelColumnNames);
        string[] taskNames = transformer.Tasks.Select(t => t.Name).ToArray();
        ControlSnapshot saved = transformer.Control;
        var points = new List<ControllabilityPoint>();
        string[] classificationNames = transformer.Tasks.Where(t => !t.IsPerPixel).Select(t => t.Name).ToArray();
        bool perPixel = transformer.Tasks.Any(t => t.IsPerPixel);
        var byConfiguration = new Dictionary<WidthConfiguration, (IReadOnlyDictionary<string, MulticlassClassificationMetrics> Classes, IReadOnlyDictionary<string, PerPixelMetrics> Pixels)>();
        try
        {
            foreach (Budget budget in budgets)
                foreach (IReadOnlyDictionary<string, double> weights in preferences)
                {
                    transformer.SetControl(budget, weights);
                    ControlSnapshot control = transformer.Control;
                    (IReadOnlyDictionary<string, MulticlassClassificationMetrics> Classes, IReadOnlyDictionary<string, PerPixelMetrics> Pixels) metrics;
                    // Many queries choose the same configuration: one pass over the data per distinct configuration.
                    if (!pointMetrics)
                        metrics = (new Dictionary<string, MulticlassClassificationMetrics>(), new Dictionary<string, PerPixelMetrics>());
                    else if (!byConfiguration.TryGetValue(control.Configuration, out metrics))
                    {
                        IDataView scored = transformer.Transform(data);
                        byConfiguration[control.Configuration] = metrics = (catalog.EvaluateControllableMultiTask(scored, classificationNames, labels),
                            perPixel ? PerPixelMetrics.Evaluate(scored, transformer.Tasks, transformer.Model.Height, transformer.Model.Width, labels)
                                : new Dictionary<string, PerPixelMetrics>());
                    }
                    points.Add(new ControllabilityPoint(budget, new Dictionary<string, double>(weights), control.Configuration,
                        control.Macs, (double)control.Macs / transformer.FullMacs, metrics.Classes, metrics.Pixels));
                }
        }
        finally
        {
            transformer.SetControl(saved.Budget, saved.TaskWeights);
        }
        if (transformer.Model is not ControllableMultiTaskModel model) return new ControllabilityEvaluation(points, null, null);

        // The figures: the research evaluator (ControllabilityEvaluator) on these queries, P(c) measured on the data.
        // The weights go in as given (in task order, checked): the search normalises them itself, and Spearman and
        // uniformity do not depend on their scale.
        double[][] prefs = preferences.Select(w => TaskPreferences.InTaskOrder(w, taskNames)).ToArray();
        var batches = new DataViewBatches(data, TableOptions(transformer, model, labels), model.Tasks,
            (int)DataViewBatches.CountRows(data, data.Schema[labels[taskNames[0]]]), 1, argument: nameof(data));
        double[][][] accuracy = NetworkEvaluator.AccuracyTable(model.Network, batches, 256, model.Device);
        CalibrationTable measured = CalibrationTable.Calibrate(model.Costs, model.Tasks.Select(t => t.HigherIsBetter).ToArray(),
            (e, d) => accuracy.Select(task => task[e][d]).ToArray());
        ControllabilityComparison cmp = ControllabilityEvaluator.Compare(model.Search, new EqualWidthController(model.Costs, model.Calibration),
            budgets, prefs, seed, evaluation: measured);
        return new ControllabilityEvaluation(points, Figures(cmp.Search, budgets), Figures(cmp.Baseline, budgets), measured);
    }

    private static ControllabilityFigures Figures(ControllabilityReport r, IReadOnlyList<Budget> budgets) =>
        new(r.Controller, r.BudgetAdherence, r.MeanBudgetUtilisation, r.MeanSpearman, r.MeanUniformity, r.MeanHypervolume,
            r.PerBudget.Select((b, i) => new ControllabilityBudgetFigures(budgets[i], b.Queries, b.BudgetAdherence, b.MeanBudgetUtilisation,
                b.MeanSpearman, b.MeanUniformity, b.Hypervolume, b.DistinctConfigurations)).ToArray());

    private static IReadOnlyDictionary<string, string> LabelColumns(ControllableMultiTaskTransformer transformer, IReadOnlyDictionary<string, string>? overrides)
    {
        ControllableMultiTaskEstimator.Options? trained = transformer.TrainingOptions;
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (TaskDefinition t in transformer.Tasks)
            map[t.Name] = overrides is not null && overrides.TryGetValue(t.Name, out string? o) ? o
                : trained?.Tasks.FirstOrDefault(c => c.Name == t.Name)?.EffectiveLabelColumnName ?? t.Name;
        return map;
    }

    /// <summary>Options that describe the evaluation data for the batch reader: the transformer's features column and
    /// image shape, and the label column per task.</summary>
    private static ControllableMultiTaskEstimator.Options TableOptions(ControllableMultiTaskTransformer transformer, ControllableMultiTaskModel model,
        IReadOnlyDictionary<string, string> labels) => new()
    {
        FeatureColumnName = transformer.FeatureColumnName,
        ImageChannels = model.Channels,
        ImageHeight = model.Height,
        ImageWidth = model.Width,
        Tasks = model.Tasks.Select(t => new ControllableMultiTaskEstimator.TaskColumn(t.Name, labels[t.Name])).ToList(),
    };
}
