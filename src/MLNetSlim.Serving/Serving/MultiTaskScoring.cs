using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;

namespace MLNetSlim.Serving;

/// <summary>
/// What the shared scoring mapper (<see cref="MultiTaskScoring"/>) needs from a transformer: the tasks and input shape,
/// the column names, the current control, the search, and "run configuration c on a batch of rows -> per-task output
/// arrays". Implemented by the TorchSharp transformer (<c>MLNetSlim.MLNet.ControllableMultiTaskTransformer</c>, whose
/// forward runs through TorchSharp or ONNX Runtime) and by <see cref="ServingMultiTaskTransformer"/> (ONNX Runtime on a
/// serving bundle), so both give the same columns, per-row control and errors.
/// </summary>
internal interface IMultiTaskScorer
{
    /// <summary>The tasks, in decoder order.</summary>
    IReadOnlyList<TaskDefinition> Tasks { get; }

    /// <summary>Input image channels C.</summary>
    int Channels { get; }

    /// <summary>Input image height H, pixels.</summary>
    int Height { get; }

    /// <summary>Input image width W, pixels.</summary>
    int Width { get; }

    /// <summary>MACs per image of the full network.</summary>
    long FullMacs { get; }

    /// <summary>The image column: Vector&lt;Single, C*H*W&gt;.</summary>
    string FeatureColumnName { get; }

    /// <summary>The per-row budget column, or null/empty for none.</summary>
    string? BudgetColumnName { get; }

    /// <summary>The per-row task weights column, or null/empty for none.</summary>
    string? TaskWeightsColumnName { get; }

    /// <summary>Rows per forward pass of a <c>Transform</c> cursor.</summary>
    int BatchSize { get; }

    /// <summary>The control now (read once per row or cursor).</summary>
    ScoringControl CurrentControl { get; }

    /// <summary>The search: the configuration for a budget and task weights in task order.</summary>
    /// <exception cref="BudgetInfeasibleException">Below the cheapest configuration.</exception>
    ResolvedConfiguration SelectConfiguration(Budget budget, double[] weights);

    /// <summary>One forward pass: <paramref name="count"/> images, (N, C, H, W) row-major, at
    /// <paramref name="configuration"/>; per task the row-major outputs, (N, K) for a per-image task and (N, C_t, H, W)
    /// for a per-pixel task (see <see cref="OutputColumns.ScoreSize"/>).</summary>
    float[][] Forward(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration);
}

/// <summary>The control a row runs at: budget, task weights in task order (do not modify) and the chosen configuration.</summary>
internal readonly record struct ScoringControl(Budget Budget, double[] Weights, ResolvedConfiguration Selected);

/// <summary>
/// The output columns, per-row control and row/batch mapping of a multi-task transformer, over an
/// <see cref="IMultiTaskScorer"/>: <c>GetOutputSchema</c>, the single-row mapper of prediction engines (one forward pass
/// per row) and the lazily transformed data view (cursors read <see cref="IMultiTaskScorer.BatchSize"/> rows ahead and
/// run one forward pass per batch and configuration). One per transformer; thread-safe.
/// </summary>
internal sealed class MultiTaskScoring
{
    /// <summary>Most (budget, weights) answers the per-row configuration cache keeps; when full it starts over.</summary>
    public const int ConfigurationCacheCapacity = 1024;

    private readonly ConfigurationCache _cache = new(ConfigurationCacheCapacity);
    private readonly Lazy<double?> _smallestFeasible;

    public MultiTaskScoring(IMultiTaskScorer host)
    {
        Host = host;
        OutputLayout = OutputColumns.Layout(host.Tasks);
        _smallestFeasible = new Lazy<double?>(SmallestFeasible, LazyThreadSafetyMode.PublicationOnly);
    }

    /// <summary>The transformer.</summary>
    public IMultiTaskScorer Host { get; }

    /// <summary>The added columns in schema order: (task index, is the predicted label).</summary>
    public (int Task, bool IsLabel)[] OutputLayout { get; }

    /// <summary>Floats per image: C*H*W.</summary>
    public int ImageSize => Host.Channels * Host.Height * Host.Width;

    /// <summary>Pixels per image: H*W.</summary>
    public int Pixels => Host.Height * Host.Width;

    /// <summary>The input schema plus the output columns (<see cref="OutputColumns.Add"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The features column is missing or of the wrong type or size, or a
    /// control column has the wrong type; the message names the column, the expected and the actual type.</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema, string paramName)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        FeatureColumn(inputSchema, paramName);
        _ = ControlColumnsOf(inputSchema, paramName);
        var b = new DataViewSchema.Builder();
        b.AddColumns(inputSchema);
        OutputColumns.Add(b, Host.Tasks, Host.Height, Host.Width);
        return b.ToSchema();
    }

    /// <summary>A row mapper for <paramref name="inputSchema"/> (prediction engines).</summary>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new ScoringMapper(this, inputSchema);

    /// <summary>The lazily scored view of <paramref name="input"/>.</summary>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new ScoringDataView(this, input);
    }

    /// <summary>The features column (checked).</summary>
    public DataViewSchema.Column FeatureColumn(DataViewSchema schema, string paramName) =>
        ScoringSchema.FeatureColumn(schema, Host.FeatureColumnName, Host.Channels, Host.Height, Host.Width, paramName);

    /// <summary>The per-row control columns of <paramref name="schema"/> (null where absent or turned off).</summary>
    public (DataViewSchema.Column? Budget, DataViewSchema.Column? Weights) ControlColumnsOf(DataViewSchema schema, string paramName) =>
        ScoringSchema.ControlColumns(schema, Host.BudgetColumnName, Host.TaskWeightsColumnName, Host.Tasks.Count, paramName);

    /// <summary>The configuration for a row's budget and weights (either may come from the host's control), through the
    /// cache. Row values are already range-checked; an infeasible budget is reported against the row.</summary>
    public ResolvedConfiguration ResolveRow(Budget budget, double[] weights, Func<BudgetInfeasibleException, Exception> infeasible)
    {
        try
        {
            return _cache.GetOrAdd(budget, weights, Host.SelectConfiguration);
        }
        catch (BudgetInfeasibleException e)
        {
            throw infeasible(e);
        }
    }

    /// <summary>Entries of the per-row configuration cache (tests).</summary>
    public int CachedConfigurations => _cache.Count;

    /// <summary>The smallest feasible budget as a fraction of full MACs (asked of the search once), or null when the
    /// search does not report it.</summary>
    public double? SmallestFeasibleFraction => _smallestFeasible.Value;

    private double? SmallestFeasible()
    {
        try
        {
            Host.SelectConfiguration(Budget.FractionOfFull(double.Epsilon), Enumerable.Repeat(1.0, Host.Tasks.Count).ToArray());
            return double.Epsilon;
        }
        catch (BudgetInfeasibleException e) when (e.SmallestFeasible.Unit is BudgetUnit.FractionOfFullMacs or BudgetUnit.Macs)
        {
            return e.SmallestFeasible.Unit == BudgetUnit.FractionOfFullMacs ? e.SmallestFeasible.Value : e.SmallestFeasible.Value / Host.FullMacs;
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>One forward pass through the host.</summary>
    public float[][] Forward(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration) =>
        Host.Forward(images, count, configuration);

    /// <summary>Writes <paramref name="v"/> densely into <paramref name="dst"/> for prediction.</summary>
    /// <exception cref="InvalidOperationException">The vector's length is not dst's length, or it holds a NaN or infinite
    /// value (the message names the row, the column, the position and the value): a network fed such a value returns
    /// NaN scores, and an arg-max over them would be a confident-looking but meaningless label.</exception>
    public static void CopyFeatures(in VBuffer<float> v, Span<float> dst, long row, string column)
    {
        if (v.Length != dst.Length)
            throw new InvalidOperationException($"Row {row} (0-based): features column '{column}' has {v.Length} values; expected {dst.Length}.");
        ReadOnlySpan<float> values = v.GetValues();
        if (v.IsDense)
        {
            values.CopyTo(dst);
        }
        else
        {
            dst.Clear();
            ReadOnlySpan<int> indices = v.GetIndices();
            for (int i = 0; i < values.Length; i++) dst[indices[i]] = values[i];
        }
        for (int i = 0; i < dst.Length; i++)
            if (!float.IsFinite(dst[i]))
                throw new InvalidOperationException($"Row {row} (0-based): features column '{column}' holds {dst[i].ToString(CultureInfo.InvariantCulture)} at position {i}; " +
                    "features must be finite numbers. The model cannot score such a row; repair or filter it first.");
    }
}

/// <summary>
/// Reads the per-row control columns (budget, task weights) of one row source and resolves each row's configuration
/// against a <see cref="ScoringControl"/>; see the transformer's remarks for the rules. One instance per cursor or
/// row; not thread-safe.
/// </summary>
internal sealed class RowControl
{
    private readonly MultiTaskScoring _parent;
    private readonly ValueGetter<float>? _getBudget;
    private readonly ValueGetter<VBuffer<float>>? _getWeights;
    private readonly string _budgetName = "", _weightsName = "";
    private VBuffer<float> _buffer;
    private float _budget;

    private RowControl(MultiTaskScoring parent, DataViewRow row, DataViewSchema.Column? budget, DataViewSchema.Column? weights)
    {
        _parent = parent;
        if (budget is DataViewSchema.Column b)
        {
            _getBudget = row.GetGetter<float>(row.Schema[b.Index]);
            _budgetName = b.Name;
        }
        if (weights is DataViewSchema.Column w)
        {
            _getWeights = row.GetGetter<VBuffer<float>>(row.Schema[w.Index]);
            _weightsName = w.Name;
        }
    }

    /// <summary>A reader for <paramref name="row"/>, or null when the input has no control column.</summary>
    public static RowControl? Create(MultiTaskScoring parent, DataViewRow row,
        (DataViewSchema.Column? Budget, DataViewSchema.Column? Weights) columns) =>
        columns.Budget is null && columns.Weights is null ? null : new RowControl(parent, row, columns.Budget, columns.Weights);

    /// <summary>The configuration of the current row: its own budget and/or weights, the rest from
    /// <paramref name="control"/>.</summary>
    /// <param name="control">The transformer's control for this row.</param>
    /// <param name="row">The row's position, for error messages.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bad budget or weights value in the row.</exception>
    /// <exception cref="BudgetInfeasibleException">The row's budget is below the cheapest configuration.</exception>
    public ResolvedConfiguration Resolve(ScoringControl control, long row)
    {
        Budget budget = control.Budget;
        double[] weights = control.Weights;
        bool own = false;
        if (_getBudget is not null)
        {
            _getBudget(ref _budget);
            if (!(_budget > 0 && _budget <= 1))
                throw new ArgumentOutOfRangeException(_budgetName,
                    $"Row {row}: the budget column '{_budgetName}' holds {F(_budget)}; a per-row budget is a fraction of the full network's MACs, " +
                    $"valid range {ValidBudgetRange()}.");
            budget = Budget.FractionOfFull(_budget);
            own = true;
        }
        if (_getWeights is not null)
        {
            _getWeights(ref _buffer);
            int n = _buffer.Length;
            if (n > 0)
            {
                int tasks = _parent.Host.Tasks.Count;
                var w = new double[n];
                int i = 0;
                foreach (float x in _buffer.DenseValues()) w[i++] = x;
                if (n != tasks)
                    throw new ArgumentOutOfRangeException(_weightsName,
                        $"Row {row}: the task weights column '{_weightsName}' holds {n} values {Vector(w)}; it needs {tasks} (one per task, in task order: " +
                        $"[{string.Join(", ", _parent.Host.Tasks.Select(t => t.Name))}]) of {TaskPreferences.ValidRange}, or none (an empty vector) to use the transformer's weights.");
                if (TaskPreferences.Problem(w) is string problem)
                    throw new ArgumentOutOfRangeException(_weightsName,
                        $"Row {row}: the task weights column '{_weightsName}' holds {Vector(w)}: {problem}. Valid: {tasks} {TaskPreferences.ValidRange} " +
                        "(task order), or an empty vector to use the transformer's weights.");
                weights = w;
                own = true;
            }
        }
        if (!own) return control.Selected;
        bool rowBudget = _getBudget is not null;
        return _parent.ResolveRow(budget, weights, e => new BudgetInfeasibleException(rowBudget
            ? $"Row {row}: the budget column '{_budgetName}' holds {F(_budget)}, below the cost of the cheapest configuration; " +
              $"the valid range is [{F(e.SmallestFeasible.Value)}, 1]: the smallest feasible budget is {F(e.SmallestFeasible.Value)} of full MACs."
            : $"Row {row}: {e.Message}", e));
    }

    private string ValidBudgetRange() =>
        _parent.SmallestFeasibleFraction is double s ? $"[{F(s)}, 1] (the smallest feasible budget is {F(s)}; (0, 1] in general)" : "(0, 1]";

    private static string F(double x) => x.ToString("R", CultureInfo.InvariantCulture);

    private static string Vector(double[] w) => "[" + string.Join(", ", w.Select(F)) + "]";
}

/// <summary>The single-row mapper (prediction engines): one forward pass per row, at the row's configuration (its
/// control columns, else the host's control read at that call). No lock: engines run in parallel.</summary>
internal sealed class ScoringMapper : IRowToRowMapper
{
    private readonly MultiTaskScoring _parent;
    private readonly DataViewSchema.Column _features;
    private readonly (DataViewSchema.Column? Budget, DataViewSchema.Column? Weights) _control;

    public ScoringMapper(MultiTaskScoring parent, DataViewSchema inputSchema)
    {
        _parent = parent;
        InputSchema = inputSchema;
        OutputSchema = parent.GetOutputSchema(inputSchema, nameof(inputSchema));
        _features = inputSchema[parent.Host.FeatureColumnName];
        _control = parent.ControlColumnsOf(inputSchema, nameof(inputSchema));
    }

    public DataViewSchema InputSchema { get; }

    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var needed = new SortedSet<int>();
        foreach (DataViewSchema.Column c in dependingColumns)
        {
            if (c.Index < InputSchema.Count)
            {
                needed.Add(c.Index);
                continue;
            }
            needed.Add(_features.Index);
            if (_control.Budget is DataViewSchema.Column b) needed.Add(b.Index);
            if (_control.Weights is DataViewSchema.Column w) needed.Add(w.Index);
        }
        return needed.Select(i => InputSchema[i]).ToArray();
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Schema != InputSchema)
            _parent.FeatureColumn(input.Schema, nameof(input));
        return new Row(this, input, activeColumns.Select(c => c.Index).ToHashSet());
    }

    private sealed class Row : DataViewRow
    {
        private readonly ScoringMapper _mapper;
        private readonly DataViewRow _input;
        private readonly HashSet<int> _active;
        private readonly float[] _image;
        private ValueGetter<VBuffer<float>>? _getFeatures;
        private RowControl? _rowControl;
        private bool _rowControlMade;
        private VBuffer<float> _buffer;
        private long _computedAt = -1;
        private float[][] _probs = Array.Empty<float[]>();

        public Row(ScoringMapper mapper, DataViewRow input, HashSet<int> active)
        {
            _mapper = mapper;
            _input = input;
            _active = active;
            _image = new float[mapper._parent.ImageSize];
        }

        public override DataViewSchema Schema => _mapper.OutputSchema;

        public override long Position => _input.Position;

        public override long Batch => _input.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            int n = _mapper.InputSchema.Count;
            if (column.Index < n) return _input.GetGetter<TValue>(_input.Schema[column.Index]);
            if (!_active.Contains(column.Index))
                throw new InvalidOperationException($"Column '{column.Name}' is not active in this row.");
            MultiTaskScoring parent = _mapper._parent;
            (int task, bool isLabel) = parent.OutputLayout[column.Index - n];
            return OutputColumns.Getter<TValue>(column, parent.Host.Tasks[task], isLabel, parent.Pixels, () => (Compute()[task], 0));
        }

        private float[][] Compute()
        {
            if (_computedAt == _input.Position && _input.Position >= 0) return _probs;
            MultiTaskScoring parent = _mapper._parent;
            _getFeatures ??= _input.GetGetter<VBuffer<float>>(_input.Schema[_mapper._features.Index]);
            if (!_rowControlMade)
            {
                _rowControl = RowControl.Create(parent, _input, _mapper._control);
                _rowControlMade = true;
            }
            _getFeatures(ref _buffer);
            MultiTaskScoring.CopyFeatures(_buffer, _image, _input.Position, parent.Host.FeatureColumnName);
            ScoringControl control = parent.Host.CurrentControl; // read once: this row runs at one (budget, weights) pair
            ResolvedConfiguration config = _rowControl?.Resolve(control, _input.Position) ?? control.Selected;
            _probs = parent.Forward(_image, 1, config);
            _computedAt = _input.Position;
            return _probs;
        }
    }
}

/// <summary>The lazily transformed data view: cursors read <see cref="IMultiTaskScorer.BatchSize"/>
/// rows ahead and run one forward pass per batch and configuration.</summary>
internal sealed class ScoringDataView : IDataView
{
    private readonly MultiTaskScoring _parent;
    private readonly IDataView _input;
    private readonly DataViewSchema.Column _features;
    private readonly (DataViewSchema.Column? Budget, DataViewSchema.Column? Weights) _control;

    public ScoringDataView(MultiTaskScoring parent, IDataView input)
    {
        _parent = parent;
        _input = input;
        Schema = parent.GetOutputSchema(input.Schema, nameof(input));
        _features = input.Schema[parent.Host.FeatureColumnName];
        _control = parent.ControlColumnsOf(input.Schema, nameof(input));
    }

    public bool CanShuffle => _input.CanShuffle;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => _input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        int n = _input.Schema.Count;
        HashSet<int> active = columnsNeeded.Select(c => c.Index).ToHashSet();
        bool needNetwork = active.Any(i => i >= n);
        var inputCols = active.Where(i => i < n).ToHashSet();
        if (needNetwork)
        {
            inputCols.Add(_features.Index);
            if (_control.Budget is DataViewSchema.Column b) inputCols.Add(b.Index);
            if (_control.Weights is DataViewSchema.Column w) inputCols.Add(w.Index);
        }
        DataViewRowCursor inner = _input.GetRowCursor(inputCols.Select(i => _input.Schema[i]), rand);
        return new BatchCursor(_parent, this, inner, active, needNetwork);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        new[] { GetRowCursor(columnsNeeded, rand) };

    private sealed class BatchCursor : DataViewRowCursor
    {
        private readonly ScoringDataView _view;
        private readonly MultiTaskScoring _parent;
        private readonly DataViewRowCursor _inner;
        private readonly HashSet<int> _active;
        private readonly bool _needNetwork;
        private readonly IReadOnlyList<TaskDefinition> _tasks;
        private readonly int _pixels;
        private readonly ScoringControl _control;
        private readonly RowControl? _rowControl;
        private readonly ResolvedConfiguration[] _configs;
        private readonly int _batch;
        private readonly int _imageSize;
        private readonly float[] _images;
        private readonly ColumnBuffer?[] _columns;
        private readonly DataViewRowId[] _ids;
        private readonly ValueGetter<DataViewRowId> _innerIds;
        private readonly ValueGetter<VBuffer<float>>? _getFeatures;
        private readonly string _featureName;
        private float[]? _groupImages;
        private VBuffer<float> _buffer;
        private float[][] _probs = Array.Empty<float[]>();
        private int _count;
        private int _index = -1;
        private long _position = -1;
        private long _innerRow;
        private bool _done;

        public BatchCursor(MultiTaskScoring parent, ScoringDataView view, DataViewRowCursor inner,
            HashSet<int> active, bool needNetwork)
        {
            _view = view;
            _parent = parent;
            _inner = inner;
            _active = active;
            _needNetwork = needNetwork;
            _tasks = parent.Host.Tasks;
            _pixels = parent.Pixels;
            _control = parent.Host.CurrentControl; // fixed for this pass
            _featureName = parent.Host.FeatureColumnName;
            _batch = needNetwork ? parent.Host.BatchSize : 1;
            _imageSize = parent.ImageSize;
            _images = needNetwork ? new float[_batch * _imageSize] : Array.Empty<float>();
            _configs = new ResolvedConfiguration[_batch];
            _columns = new ColumnBuffer?[view._input.Schema.Count];
            foreach (int i in active.Where(i => i < _columns.Length))
                _columns[i] = ColumnBuffer.Create(inner, view._input.Schema[i], _batch);
            _ids = new DataViewRowId[_batch];
            _innerIds = inner.GetIdGetter();
            if (needNetwork)
            {
                _getFeatures = inner.GetGetter<VBuffer<float>>(view._features);
                _rowControl = RowControl.Create(parent, inner, view._control);
            }
        }

        public override DataViewSchema Schema => _view.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = _ids[_index];

        public override bool MoveNext()
        {
            if (_done) return false;
            if (_index + 1 < _count)
            {
                _index++;
                _position++;
                return true;
            }
            _count = 0;
            while (_count < _batch && _inner.MoveNext())
            {
                _innerIds(ref _ids[_count]);
                foreach (ColumnBuffer? c in _columns) c?.Capture(_count);
                if (_getFeatures is not null)
                {
                    _getFeatures(ref _buffer);
                    MultiTaskScoring.CopyFeatures(_buffer, _images.AsSpan(_count * _imageSize, _imageSize), _innerRow, _featureName);
                    _configs[_count] = _rowControl?.Resolve(_control, _innerRow) ?? _control.Selected;
                }
                _innerRow++;
                _count++;
            }
            if (_count == 0)
            {
                _done = true;
                _index = -1;
                return false;
            }
            if (_needNetwork) RunBatch();
            _index = 0;
            _position++;
            return true;
        }

        /// <summary>One forward pass per distinct configuration in the batch (in order of first appearance), results
        /// scattered back to row order.</summary>
        private void RunBatch()
        {
            ResolvedConfiguration first = _configs[0];
            bool uniform = true;
            for (int i = 1; i < _count && uniform; i++) uniform = first.Equals(_configs[i]);
            if (uniform)
            {
                _probs = _parent.Forward(_images.AsSpan(0, _count * _imageSize), _count, first);
                return;
            }
            int tasks = _tasks.Count;
            var probs = new float[tasks][];
            int pixels = _pixels;
            for (int t = 0; t < tasks; t++) probs[t] = new float[_count * OutputColumns.ScoreSize(_tasks[t], pixels)];
            _groupImages ??= new float[_batch * _imageSize];
            var groups = new Dictionary<ResolvedConfiguration, List<int>>();
            var order = new List<ResolvedConfiguration>();
            for (int i = 0; i < _count; i++)
            {
                if (!groups.TryGetValue(_configs[i], out List<int>? rows))
                {
                    groups[_configs[i]] = rows = new List<int>();
                    order.Add(_configs[i]);
                }
                rows.Add(i);
            }
            foreach (ResolvedConfiguration config in order)
            {
                List<int> rows = groups[config];
                for (int j = 0; j < rows.Count; j++)
                    _images.AsSpan(rows[j] * _imageSize, _imageSize).CopyTo(_groupImages.AsSpan(j * _imageSize, _imageSize));
                float[][] output = _parent.Forward(_groupImages.AsSpan(0, rows.Count * _imageSize), rows.Count, config);
                for (int t = 0; t < tasks; t++)
                {
                    int k = OutputColumns.ScoreSize(_tasks[t], pixels);
                    for (int j = 0; j < rows.Count; j++)
                        output[t].AsSpan(j * k, k).CopyTo(probs[t].AsSpan(rows[j] * k, k));
                }
            }
            _probs = probs;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!_active.Contains(column.Index))
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when this cursor was created.");
            int n = _columns.Length;
            if (column.Index < n) return _columns[column.Index]!.Getter<TValue>(() => _index);
            (int task, bool isLabel) = _parent.OutputLayout[column.Index - n];
            int size = OutputColumns.ScoreSize(_tasks[task], _pixels);
            return OutputColumns.Getter<TValue>(column, _tasks[task], isLabel, _pixels, () => (_probs[task], _index * size));
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

