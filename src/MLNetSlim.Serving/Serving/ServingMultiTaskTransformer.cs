using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;

namespace MLNetSlim.Serving;

/// <summary>
/// Serves a <see cref="ServingMultiTaskModel"/> (a serving bundle, ONNX Runtime, no TorchSharp) in ML.NET with the
/// control and the output columns of the TorchSharp transformer (<c>MLNetSlim.MLNet.ControllableMultiTaskTransformer</c>;
/// both run the same mapper, so columns, per-row control and error messages are the same): per task T with K classes,
/// <c>Score.T</c> (Vector&lt;Single, K&gt; of class probabilities, SlotNames = class names) and <c>PredictedLabel.T</c>
/// (Key&lt;UInt32, K&gt;, the arg-max class, KeyValues = class names); per-pixel tasks: <c>Score.T</c> as a (C, H, W)
/// Vector&lt;Single&gt; (segmentation: class probabilities per pixel; depth: values; normals: unit vectors; edges:
/// probabilities) and, for segmentation, <c>PredictedLabel.T</c> as an (H, W) Vector&lt;UInt32&gt; of 0-based classes
/// (docs/mlnet-integration.md). Input columns pass through at the same indices. Works with <c>Transform</c> and
/// <c>mlContext.Model.CreatePredictionEngine</c>.
/// </summary>
/// <remarks>
/// <para><b>Control.</b> <see cref="SetControl"/> sets budget and task weights together (one search, one immutable
/// snapshot swapped atomically); <see cref="Budget"/> and <see cref="TaskWeights"/> are shorthands. The initial control
/// and the column names are those of the exported transformer (a millisecond budget needs the bundle's latency table,
/// see <see cref="ServingMultiTaskModel"/>; without one the initial budget is the full network).</para>
/// <para><b>Per-row control.</b> An input column named <see cref="BudgetColumnName"/> (Single, fraction of full MACs in
/// (0, 1]) and/or <see cref="TaskWeightsColumnName"/> (Vector&lt;Single&gt;, one weight per task in task order; empty =
/// the transformer's weights) sets the row's own budget / weights, with the same rules and error messages as the
/// TorchSharp transformer.</para>
/// <para><b>Batches.</b> <see cref="Transform"/> reads <see cref="BatchSize"/> rows ahead and runs one ONNX Runtime call
/// per batch and configuration; the prediction engine path runs one call per row.</para>
/// <para><b>Threads.</b> No lock around the forward pass; use one prediction engine per thread. Not saved to an ML.NET
/// zip: the bundle is the serving artefact.</para>
/// </remarks>
public sealed class ServingMultiTaskTransformer : ITransformer, IMultiTaskScorer
{
    /// <summary>Prefix of the per-task score columns: <c>Score.&lt;Task&gt;</c>.</summary>
    public const string ScoreColumnPrefix = OutputColumns.ScorePrefix;

    /// <summary>Prefix of the per-task predicted label columns: <c>PredictedLabel.&lt;Task&gt;</c>.</summary>
    public const string PredictedLabelColumnPrefix = OutputColumns.PredictedLabelPrefix;

    /// <summary>Most (budget, weights) answers the per-row configuration cache keeps; when full it starts over.</summary>
    public const int ConfigurationCacheCapacity = MultiTaskScoring.ConfigurationCacheCapacity;

    private readonly object _controlLock = new();
    private readonly MultiTaskScoring _scoring;
    private volatile Snapshot _control;
    private int _batchSize = 64;

    /// <summary>Serves <paramref name="model"/> with the bundle's column names and control.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    public ServingMultiTaskTransformer(ServingMultiTaskModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        ServingBundle b = model.Bundle;
        FeatureColumnName = b.FeatureColumnName;
        BudgetColumnName = b.BudgetColumnName;
        TaskWeightsColumnName = b.TaskWeightsColumnName;
        Budget initial = b.Budget.Unit == BudgetUnit.Milliseconds && b.Latency is null ? Budget.Full : b.Budget;
        _control = Select(initial, b.TaskWeights.ToArray());
        _scoring = new MultiTaskScoring(this);
    }

    /// <summary>The served model.</summary>
    public ServingMultiTaskModel Model { get; }

    /// <summary>The tasks, in decoder order.</summary>
    public IReadOnlyList<TaskDefinition> Tasks => Model.Tasks;

    /// <summary>The image column: Vector&lt;Single, C*H*W&gt;, (C, H, W) order.</summary>
    public string FeatureColumnName { get; }

    /// <summary>The optional per-row budget column; null turns per-row budgets off.</summary>
    public string? BudgetColumnName { get; set; }

    /// <summary>The optional per-row task weights column; null turns per-row weights off.</summary>
    public string? TaskWeightsColumnName { get; set; }

    /// <summary>The compute budget. Setting it is <c>SetControl(value, TaskWeights)</c>.</summary>
    /// <exception cref="BudgetInfeasibleException">On set: below the cheapest configuration; the control is unchanged.</exception>
    /// <exception cref="NotSupportedException">On set: a millisecond budget and a bundle without a latency table.</exception>
    public Budget Budget
    {
        get => _control.Budget;
        set
        {
            lock (_controlLock) _control = Select(value, _control.Weights);
        }
    }

    /// <summary>Task preferences by task name (non-negative; unlisted tasks get 0). Getting returns every task.</summary>
    /// <exception cref="ArgumentException">On set: an unknown task name (the message names it and the known tasks).</exception>
    /// <exception cref="ArgumentOutOfRangeException">On set: a negative, NaN or infinite weight, or all weights 0.</exception>
    public IReadOnlyDictionary<string, double> TaskWeights
    {
        get => Tasks.Select((t, i) => (t.Name, _control.Weights[i])).ToDictionary(p => p.Name, p => p.Item2, StringComparer.Ordinal);
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            double[] w = TaskPreferences.InTaskOrder(value, Tasks.Select(t => t.Name).ToArray());
            lock (_controlLock) _control = Select(_control.Budget, w);
        }
    }

    /// <summary>Sets budget and task weights together, atomically (see the remarks).</summary>
    /// <param name="budget">Fraction of full MACs, MACs, or milliseconds (bundles with a latency table).</param>
    /// <param name="taskWeights">By task name; null for every task 1.0.</param>
    /// <exception cref="BudgetInfeasibleException">Below the cheapest configuration; the control is unchanged.</exception>
    /// <exception cref="ArgumentException">An unknown task name.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Bad weights.</exception>
    /// <exception cref="NotSupportedException">A millisecond budget and a bundle without a latency table.</exception>
    public void SetControl(Budget budget, IReadOnlyDictionary<string, double>? taskWeights)
    {
        double[] w = taskWeights is null ? Enumerable.Repeat(1.0, Tasks.Count).ToArray()
            : TaskPreferences.InTaskOrder(taskWeights, Tasks.Select(t => t.Name).ToArray());
        Snapshot next = Select(budget, w);
        lock (_controlLock) _control = next;
    }

    /// <summary>The width configuration chosen for the current control.</summary>
    public WidthConfiguration Configuration => _control.Selected.Widths;

    /// <summary>Exact MACs per image of <see cref="Configuration"/>.</summary>
    public long ConfigurationMacs => _control.Selected.Macs;

    /// <summary>MACs per image of the full network.</summary>
    public long FullMacs => Model.Costs.FullMacs;

    /// <summary>Rows per ONNX Runtime call in <see cref="Transform"/> (default 64, at least 1).</summary>
    /// <exception cref="ArgumentOutOfRangeException">On set: less than 1.</exception>
    public int BatchSize
    {
        get => _batchSize;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _batchSize = value;
        }
    }

    /// <inheritdoc />
    public bool IsRowToRowMapper => true;

    /// <summary>Input columns plus <c>Score.T</c> and (classification, segmentation) <c>PredictedLabel.T</c> per task.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The features column is missing or not Vector&lt;Single, C*H*W&gt;,
    /// or a per-row control column has the wrong type (the message names the column, expected and actual type).</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => _scoring.GetOutputSchema(inputSchema, nameof(inputSchema));

    /// <summary>The single-row mapper (prediction engines): one forward pass per row.</summary>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="GetOutputSchema"/>.</exception>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        return _scoring.GetRowToRowMapper(inputSchema);
    }

    /// <summary>Lazily scores <paramref name="input"/> (one forward pass per batch and configuration as it is
    /// enumerated).</summary>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="GetOutputSchema"/>.</exception>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return _scoring.Transform(input);
    }

    /// <summary>Not supported: the serving bundle is the saved form (export it again with
    /// <c>mlContext.Model.ExportServingBundle</c> on the TorchSharp side).</summary>
    /// <exception cref="NotSupportedException">Always.</exception>
    void ICanSaveModel.Save(ModelSaveContext ctx) =>
        throw new NotSupportedException("A ServingMultiTaskTransformer is not saved into an ML.NET zip: its serving bundle is the saved form; keep the bundle file, or export a new one with mlContext.Model.ExportServingBundle.");

    // ---- control ------------------------------------------------------------------------------------------------

    private sealed record Snapshot(Budget Budget, double[] Weights, ResolvedConfiguration Selected);

    private Snapshot Select(Budget budget, double[] weights) => new(budget, weights, Model.SelectConfiguration(budget, weights));

    // ---- the shared scoring mapper (MultiTaskScoring) -------------------------------------------------------------

    int IMultiTaskScorer.Channels => Model.Bundle.Channels;

    int IMultiTaskScorer.Height => Model.Bundle.Height;

    int IMultiTaskScorer.Width => Model.Bundle.Width;

    ScoringControl IMultiTaskScorer.CurrentControl
    {
        get
        {
            Snapshot c = _control;
            return new ScoringControl(c.Budget, c.Weights, c.Selected);
        }
    }

    ResolvedConfiguration IMultiTaskScorer.SelectConfiguration(Budget budget, double[] weights) => Model.SelectConfiguration(budget, weights);

    float[][] IMultiTaskScorer.Forward(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration) =>
        Model.Predict(images, count, configuration);
}
