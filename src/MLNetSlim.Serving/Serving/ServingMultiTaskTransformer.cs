using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;

namespace MLNetSlim.Serving;

/// <summary>
/// Serves a <see cref="ServingMultiTaskModel"/> (a serving bundle, ONNX Runtime, no TorchSharp) in ML.NET with the
/// control and the output columns of the TorchSharp transformer (<c>MLNetSlim.MLNet.ControllableMultiTaskTransformer</c>):
/// per task T with K classes, <c>Score.T</c> (Vector&lt;Single, K&gt; of class probabilities, SlotNames = class names)
/// and <c>PredictedLabel.T</c> (Key&lt;UInt32, K&gt;, the arg-max class, KeyValues = class names). Input columns pass
/// through at the same indices. Works with <c>Transform</c> and <c>mlContext.Model.CreatePredictionEngine</c>.
/// </summary>
/// <remarks>
/// <para><b>Control.</b> <see cref="SetControl"/> sets budget and task weights together (one search, one immutable
/// snapshot swapped atomically); <see cref="Budget"/> and <see cref="TaskWeights"/> are shorthands. The initial control
/// and the column names are those of the exported transformer.</para>
/// <para><b>Per-row control.</b> An input column named <see cref="BudgetColumnName"/> (Single, fraction of full MACs in
/// (0, 1]) and/or <see cref="TaskWeightsColumnName"/> (Vector&lt;Single&gt;, one weight per task in task order; empty =
/// the transformer's weights) sets the row's own budget / weights, with the same rules and error messages as the
/// TorchSharp transformer.</para>
/// <para><b>Threads.</b> No lock around the forward pass; use one prediction engine per thread. Not saved to an ML.NET
/// zip: the bundle is the serving artefact.</para>
/// </remarks>
public sealed class ServingMultiTaskTransformer : ITransformer
{
    /// <summary>Prefix of the per-task score columns: <c>Score.&lt;Task&gt;</c>.</summary>
    public const string ScoreColumnPrefix = "Score.";

    /// <summary>Prefix of the per-task predicted label columns: <c>PredictedLabel.&lt;Task&gt;</c>.</summary>
    public const string PredictedLabelColumnPrefix = "PredictedLabel.";

    /// <summary>Most (budget, weights) answers the per-row configuration cache keeps; when full it starts over.</summary>
    public const int ConfigurationCacheCapacity = 1024;

    private readonly object _controlLock = new();
    private readonly ConcurrentDictionary<string, ResolvedConfiguration> _rowCache = new(StringComparer.Ordinal);
    private volatile Snapshot _control;

    /// <summary>Serves <paramref name="model"/> with the bundle's column names and control.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="model"/> is null.</exception>
    /// <exception cref="NotSupportedException">A task is not a classification task.</exception>
    public ServingMultiTaskTransformer(ServingMultiTaskModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (TaskDefinition t in model.Tasks)
            if (t.Kind != TaskKind.Classification)
                throw new NotSupportedException($"Task '{t.Name}' is {t.Kind}; the serving transformer supports classification tasks only.");
        Model = model;
        ServingBundle b = model.Bundle;
        FeatureColumnName = b.FeatureColumnName;
        BudgetColumnName = b.BudgetColumnName;
        TaskWeightsColumnName = b.TaskWeightsColumnName;
        Budget initial = b.Budget.Unit == BudgetUnit.Milliseconds ? Budget.Full : b.Budget;
        _control = Select(initial, b.TaskWeights.ToArray());
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
    /// <exception cref="NotSupportedException">On set: a millisecond budget.</exception>
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
    /// <param name="budget">Fraction of full MACs or MACs.</param>
    /// <param name="taskWeights">By task name; null for every task 1.0.</param>
    /// <exception cref="BudgetInfeasibleException">Below the cheapest configuration; the control is unchanged.</exception>
    /// <exception cref="ArgumentException">An unknown task name.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Bad weights.</exception>
    /// <exception cref="NotSupportedException">A millisecond budget.</exception>
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

    /// <inheritdoc />
    public bool IsRowToRowMapper => true;

    /// <summary>Input columns plus <c>Score.T</c> and <c>PredictedLabel.T</c> per task.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The features column is missing or not Vector&lt;Single, C*H*W&gt;,
    /// or a per-row control column has the wrong type (the message names the column, expected and actual type).</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        _ = FeatureColumn(inputSchema);
        _ = ControlColumns(inputSchema);
        var b = new DataViewSchema.Builder();
        b.AddColumns(inputSchema);
        foreach (TaskDefinition t in Tasks)
        {
            int k = t.NumClasses;
            var names = new VBuffer<ReadOnlyMemory<char>>(k, t.ClassNames.Select(n => n.AsMemory()).ToArray());
            var scoreAnn = new DataViewSchema.Annotations.Builder();
            scoreAnn.Add("SlotNames", new VectorDataViewType(TextDataViewType.Instance, k), (ref VBuffer<ReadOnlyMemory<char>> v) => names.CopyTo(ref v));
            b.AddColumn(ScoreColumnPrefix + t.Name, new VectorDataViewType(NumberDataViewType.Single, k), scoreAnn.ToAnnotations());
            var labelAnn = new DataViewSchema.Annotations.Builder();
            labelAnn.Add("KeyValues", new VectorDataViewType(TextDataViewType.Instance, k), (ref VBuffer<ReadOnlyMemory<char>> v) => names.CopyTo(ref v));
            b.AddColumn(PredictedLabelColumnPrefix + t.Name, new KeyDataViewType(typeof(uint), k), labelAnn.ToAnnotations());
        }
        return b.ToSchema();
    }

    /// <summary>The single-row mapper (prediction engines): one forward pass per row.</summary>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="GetOutputSchema"/>.</exception>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new Mapper(this, inputSchema);

    /// <summary>Lazily scores <paramref name="input"/> (one forward pass per row as it is enumerated).</summary>
    /// <exception cref="ArgumentOutOfRangeException">As <see cref="GetOutputSchema"/>.</exception>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new ScoredView(this, input);
    }

    /// <summary>Not supported: the serving bundle is the saved form (export it again with
    /// <c>mlContext.Model.ExportServingBundle</c> on the TorchSharp side).</summary>
    /// <exception cref="NotSupportedException">Always.</exception>
    void ICanSaveModel.Save(ModelSaveContext ctx) =>
        throw new NotSupportedException("A ServingMultiTaskTransformer is not saved into an ML.NET zip: its serving bundle is the saved form; keep the bundle file, or export a new one with mlContext.Model.ExportServingBundle.");

    // ---- control ------------------------------------------------------------------------------------------------

    private sealed record Snapshot(Budget Budget, double[] Weights, ResolvedConfiguration Selected);

    private Snapshot Select(Budget budget, double[] weights) => new(budget, weights, Model.SelectConfiguration(budget, weights));

    private ResolvedConfiguration ResolveRow(Budget budget, double[] weights)
    {
        string key = budget.ToString() + "|" + string.Join(",", weights.Select(w => w.ToString("R", CultureInfo.InvariantCulture)));
        if (_rowCache.TryGetValue(key, out ResolvedConfiguration? c)) return c;
        c = Model.SelectConfiguration(budget, weights);
        if (_rowCache.Count >= ConfigurationCacheCapacity) _rowCache.Clear();
        _rowCache[key] = c;
        return c;
    }

    private double SmallestFeasibleFraction()
    {
        try
        {
            Model.SelectConfiguration(Budget.FractionOfFull(double.Epsilon), Enumerable.Repeat(1.0, Tasks.Count).ToArray());
            return double.Epsilon;
        }
        catch (BudgetInfeasibleException e)
        {
            return e.SmallestFeasible.Unit == BudgetUnit.FractionOfFullMacs ? e.SmallestFeasible.Value : e.SmallestFeasible.Value / FullMacs;
        }
    }

    // ---- schema ---------------------------------------------------------------------------------------------------

    private int ImageSize => Model.Bundle.Channels * Model.Bundle.Height * Model.Bundle.Width;

    private DataViewSchema.Column FeatureColumn(DataViewSchema schema)
    {
        ServingBundle b = Model.Bundle;
        string expected = $"Vector<Single, {ImageSize}> (an image of (C, H, W) = ({b.Channels}, {b.Height}, {b.Width}) in CHW order)";
        if (schema.GetColumnOrNull(FeatureColumnName) is not DataViewSchema.Column col)
            throw new ArgumentOutOfRangeException("inputSchema",
                $"Features column '{FeatureColumnName}' not found; expected {expected}. Input columns: [{string.Join(", ", schema.Where(c => !c.IsHidden).Select(c => $"{c.Name}: {c.Type}"))}].");
        if (col.Type is not VectorDataViewType v || v.ItemType != NumberDataViewType.Single || !v.IsKnownSize || v.Size != ImageSize)
            throw new ArgumentOutOfRangeException("inputSchema", $"Schema mismatch for features column '{FeatureColumnName}': expected {expected}, got {col.Type}.");
        return col;
    }

    private (DataViewSchema.Column? Budget, DataViewSchema.Column? Weights) ControlColumns(DataViewSchema schema)
    {
        DataViewSchema.Column? budget = null, weights = null;
        if (!string.IsNullOrEmpty(BudgetColumnName) && schema.GetColumnOrNull(BudgetColumnName) is DataViewSchema.Column b)
        {
            if (b.Type != NumberDataViewType.Single)
                throw new ArgumentOutOfRangeException("inputSchema",
                    $"Schema mismatch for budget column '{BudgetColumnName}': expected Single (a fraction of the full network's MACs in (0, 1]), got {b.Type}. " +
                    "Convert it, rename the column, or set BudgetColumnName to another column (null turns per-row budgets off).");
            budget = b;
        }
        if (!string.IsNullOrEmpty(TaskWeightsColumnName) && schema.GetColumnOrNull(TaskWeightsColumnName) is DataViewSchema.Column w)
        {
            if (w.Type is not VectorDataViewType v || v.ItemType != NumberDataViewType.Single || (v.IsKnownSize && v.Size != Tasks.Count))
                throw new ArgumentOutOfRangeException("inputSchema",
                    $"Schema mismatch for task weights column '{TaskWeightsColumnName}': expected Vector<Single, {Tasks.Count}> or Vector<Single> (one weight per task, in task order), got {w.Type}. " +
                    "Rename the column, or set TaskWeightsColumnName to another column (null turns per-row weights off).");
            weights = w;
        }
        return (budget, weights);
    }

    // ---- scoring one row --------------------------------------------------------------------------------------------

    /// <summary>Reads one input row's features and control, runs the forward pass, and serves the output getters.
    /// One per mapper row or cursor; not thread-safe.</summary>
    private sealed class RowScorer
    {
        private readonly ServingMultiTaskTransformer _parent;
        private readonly DataViewRow _input;
        private readonly ValueGetter<VBuffer<float>> _getFeatures;
        private readonly ValueGetter<float>? _getBudget;
        private readonly ValueGetter<VBuffer<float>>? _getWeights;
        private readonly string _budgetName = "", _weightsName = "";
        private readonly float[] _image;
        private VBuffer<float> _features, _weightsBuffer;
        private long _scoredPosition = -1;
        private float[][] _probs = [];

        public RowScorer(ServingMultiTaskTransformer parent, DataViewRow input)
        {
            _parent = parent;
            _input = input;
            _getFeatures = input.GetGetter<VBuffer<float>>(parent.FeatureColumn(input.Schema));
            (DataViewSchema.Column? budget, DataViewSchema.Column? weights) = parent.ControlColumns(input.Schema);
            if (budget is DataViewSchema.Column b)
            {
                _getBudget = input.GetGetter<float>(b);
                _budgetName = b.Name;
            }
            if (weights is DataViewSchema.Column w)
            {
                _getWeights = input.GetGetter<VBuffer<float>>(w);
                _weightsName = w.Name;
            }
            _image = new float[parent.ImageSize];
        }

        public float[] Probabilities(int task)
        {
            if (_scoredPosition != _input.Position) Score();
            return _probs[task];
        }

        private void Score()
        {
            long row = _input.Position;
            _getFeatures(ref _features);
            string column = _parent.FeatureColumnName;
            if (_features.Length != _image.Length)
                throw new InvalidOperationException($"Row {row} (0-based): features column '{column}' has {_features.Length} values; expected {_image.Length}.");
            _features.CopyTo(_image);
            for (int i = 0; i < _image.Length; i++)
                if (!float.IsFinite(_image[i]))
                    throw new InvalidOperationException($"Row {row} (0-based): features column '{column}' holds {_image[i].ToString(CultureInfo.InvariantCulture)} at position {i}; " +
                        "features must be finite numbers. The model cannot score such a row; repair or filter it first.");
            _probs = _parent.Model.Predict(_image, 1, Resolve(row));
            _scoredPosition = row;
        }

        private ResolvedConfiguration Resolve(long row)
        {
            Snapshot control = _parent._control; // read once: this row runs at one (budget, weights) pair
            Budget budget = control.Budget;
            double[] weights = control.Weights;
            bool own = false;
            float rowBudget = 0;
            if (_getBudget is not null)
            {
                _getBudget(ref rowBudget);
                if (!(rowBudget > 0 && rowBudget <= 1))
                {
                    double s = _parent.SmallestFeasibleFraction();
                    throw new ArgumentOutOfRangeException(_budgetName,
                        $"Row {row}: the budget column '{_budgetName}' holds {F(rowBudget)}; a per-row budget is a fraction of the full network's MACs, " +
                        $"valid range [{F(s)}, 1] (the smallest feasible budget is {F(s)}; (0, 1] in general).");
                }
                budget = Budget.FractionOfFull(rowBudget);
                own = true;
            }
            if (_getWeights is not null)
            {
                _getWeights(ref _weightsBuffer);
                int n = _weightsBuffer.Length;
                if (n > 0)
                {
                    int tasks = _parent.Tasks.Count;
                    var w = new double[n];
                    int i = 0;
                    foreach (float x in _weightsBuffer.DenseValues()) w[i++] = x;
                    string vector = "[" + string.Join(", ", w.Select(F)) + "]";
                    if (n != tasks)
                        throw new ArgumentOutOfRangeException(_weightsName,
                            $"Row {row}: the task weights column '{_weightsName}' holds {n} values {vector}; it needs {tasks} (one per task, in task order: " +
                            $"[{string.Join(", ", _parent.Tasks.Select(t => t.Name))}]) of {TaskPreferences.ValidRange}, or none (an empty vector) to use the transformer's weights.");
                    if (TaskPreferences.Problem(w) is string problem)
                        throw new ArgumentOutOfRangeException(_weightsName,
                            $"Row {row}: the task weights column '{_weightsName}' holds {vector}: {problem}. Valid: {tasks} {TaskPreferences.ValidRange} " +
                            "(task order), or an empty vector to use the transformer's weights.");
                    weights = w;
                    own = true;
                }
            }
            if (!own) return control.Selected;
            try
            {
                return _parent.ResolveRow(budget, weights);
            }
            catch (BudgetInfeasibleException e)
            {
                throw new BudgetInfeasibleException(_getBudget is not null
                    ? $"Row {row}: the budget column '{_budgetName}' holds {F(rowBudget)}, below the cost of the cheapest configuration; " +
                      $"the valid range is [{F(e.SmallestFeasible.Value)}, 1]: the smallest feasible budget is {F(e.SmallestFeasible.Value)} of full MACs."
                    : $"Row {row}: {e.Message}", e);
            }
        }

        private static string F(double x) => x.ToString("R", CultureInfo.InvariantCulture);

        /// <summary>The getter of output column <paramref name="outputIndex"/> (an added column).</summary>
        public Delegate Getter(int outputIndex, int inputCount)
        {
            int task = (outputIndex - inputCount) / 2;
            if ((outputIndex - inputCount) % 2 == 0)
            {
                ValueGetter<VBuffer<float>> score = (ref VBuffer<float> dst) =>
                {
                    float[] p = Probabilities(task);
                    var editor = VBufferEditor.Create(ref dst, p.Length);
                    p.CopyTo(editor.Values);
                    dst = editor.Commit();
                };
                return score;
            }
            ValueGetter<uint> label = (ref uint dst) =>
            {
                float[] p = Probabilities(task);
                int best = 0;
                for (int i = 1; i < p.Length; i++)
                    if (p[i] > p[best]) best = i;
                dst = (uint)best + 1; // 1-based key, lowest index on ties
            };
            return label;
        }
    }

    private sealed class ScoredRow(DataViewSchema schema, DataViewRow input, RowScorer scorer, Func<int, bool> active) : DataViewRow
    {
        public override DataViewSchema Schema => schema;

        public override long Position => input.Position;

        public override long Batch => input.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => active(column.Index);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int n = input.Schema.Count;
            if (column.Index < n) return input.GetGetter<TValue>(input.Schema[column.Index]);
            return scorer.Getter(column.Index, n) as ValueGetter<TValue>
                ?? throw new InvalidOperationException($"Invalid TValue in GetGetter for column '{column.Name}': expected {column.Type.RawType.Name}, got {typeof(TValue).Name}.");
        }
    }

    private sealed class Mapper : IRowToRowMapper
    {
        private readonly ServingMultiTaskTransformer _parent;

        public Mapper(ServingMultiTaskTransformer parent, DataViewSchema inputSchema)
        {
            _parent = parent;
            InputSchema = inputSchema;
            OutputSchema = parent.GetOutputSchema(inputSchema);
        }

        public DataViewSchema InputSchema { get; }

        public DataViewSchema OutputSchema { get; }

        public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
        {
            int n = InputSchema.Count;
            var needed = new HashSet<int>(dependingColumns.Where(c => c.Index < n).Select(c => c.Index));
            if (dependingColumns.Any(c => c.Index >= n))
            {
                needed.Add(_parent.FeatureColumn(InputSchema).Index);
                (DataViewSchema.Column? b, DataViewSchema.Column? w) = _parent.ControlColumns(InputSchema);
                if (b is DataViewSchema.Column bc) needed.Add(bc.Index);
                if (w is DataViewSchema.Column wc) needed.Add(wc.Index);
            }
            return needed.Order().Select(i => InputSchema[i]);
        }

        public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
        {
            var active = new HashSet<int>(activeColumns.Select(c => c.Index));
            bool needNetwork = active.Any(i => i >= InputSchema.Count);
            RowScorer? scorer = needNetwork ? new RowScorer(_parent, input) : null;
            return new ScoredRow(OutputSchema, input, scorer!, active.Contains);
        }
    }

    private sealed class ScoredView(ServingMultiTaskTransformer parent, IDataView input) : IDataView
    {
        public bool CanShuffle => input.CanShuffle;

        public DataViewSchema Schema { get; } = parent.GetOutputSchema(input.Schema);

        public long? GetRowCount() => input.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            var active = new HashSet<int>(columnsNeeded.Select(c => c.Index));
            var mapper = new Mapper(parent, input.Schema);
            IEnumerable<DataViewSchema.Column> inputColumns = mapper.GetDependencies(columnsNeeded.Select(c => Schema[c.Index]));
            DataViewRowCursor inner = input.GetRowCursor(inputColumns, rand);
            RowScorer? scorer = active.Any(i => i >= input.Schema.Count) ? new RowScorer(parent, inner) : null;
            return new Cursor(Schema, inner, scorer, active.Contains);
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            [GetRowCursor(columnsNeeded, rand)];
    }

    private sealed class Cursor(DataViewSchema schema, DataViewRowCursor inner, RowScorer? scorer, Func<int, bool> active) : DataViewRowCursor
    {
        private readonly ScoredRow _row = new(schema, inner, scorer!, active);

        public override DataViewSchema Schema => schema;

        public override long Position => inner.Position;

        public override long Batch => inner.Batch;

        public override bool MoveNext() => inner.MoveNext();

        public override ValueGetter<DataViewRowId> GetIdGetter() => inner.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => active(column.Index);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column) => _row.GetGetter<TValue>(column);

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
