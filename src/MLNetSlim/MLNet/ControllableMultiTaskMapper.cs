using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using System.Globalization;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Model;

namespace MLNetSlim.MLNet;

/// <summary>The output columns of one task and how to fill them from a probability row.</summary>
internal static class OutputColumns
{
    /// <summary>The added columns in order, per task: the score, then the predicted label for classification and
    /// segmentation (the other per-pixel kinds have only a score).</summary>
    public static (int Task, bool IsLabel)[] Layout(IReadOnlyList<TaskDefinition> tasks)
    {
        var layout = new List<(int, bool)>();
        for (int t = 0; t < tasks.Count; t++)
        {
            layout.Add((t, false));
            if (HasPredictedLabel(tasks[t])) layout.Add((t, true));
        }
        return layout.ToArray();
    }

    /// <summary>Whether a task has a <c>PredictedLabel</c> column (classification and segmentation).</summary>
    public static bool HasPredictedLabel(TaskDefinition task) => task.Kind is TaskKind.Classification or TaskKind.Segmentation;

    /// <summary>Values of a task's score per row: K for classification, C_t*H*W for a per-pixel task.</summary>
    public static int ScoreSize(TaskDefinition task, int pixels) => task.IsPerPixel ? task.OutputChannels * pixels : task.NumClasses;

    /// <summary>The getter of an added column. <paramref name="row"/> returns the array holding the row's network output
    /// for the task and the row's offset in it.</summary>
    public static ValueGetter<TValue> Getter<TValue>(DataViewSchema.Column column, TaskDefinition task, bool isLabel, int pixels,
        Func<(float[] Values, int Offset)> row)
    {
        int size = ScoreSize(task, pixels);
        if (isLabel && !task.IsPerPixel)
        {
            if (typeof(TValue) != typeof(uint)) throw WrongType<TValue>(column);
            ValueGetter<uint> g = (ref uint dst) =>
            {
                (float[] v, int o) = row();
                dst = ArgMaxKey(v.AsSpan(o, size));
            };
            return (ValueGetter<TValue>)(Delegate)g;
        }
        if (isLabel)
        {
            if (typeof(TValue) != typeof(VBuffer<uint>)) throw WrongType<TValue>(column);
            int k = task.OutputChannels;
            ValueGetter<VBuffer<uint>> g = (ref VBuffer<uint> dst) =>
            {
                (float[] v, int o) = row();
                VBufferEditor<uint> ed = VBufferEditor.Create(ref dst, pixels);
                PixelArgMax(v.AsSpan(o, size), k, pixels, ed.Values);
                dst = ed.Commit();
            };
            return (ValueGetter<TValue>)(Delegate)g;
        }
        if (typeof(TValue) != typeof(VBuffer<float>)) throw WrongType<TValue>(column);
        ValueGetter<VBuffer<float>> s = (ref VBuffer<float> dst) =>
        {
            (float[] v, int o) = row();
            VBufferEditor<float> ed = VBufferEditor.Create(ref dst, size);
            v.AsSpan(o, size).CopyTo(ed.Values);
            dst = ed.Commit();
        };
        return (ValueGetter<TValue>)(Delegate)s;
    }

    /// <summary>Per-pixel 0-based arg-max over <paramref name="k"/> channels of a (K, H, W) map (the lowest class on ties).</summary>
    public static void PixelArgMax(ReadOnlySpan<float> probs, int k, int pixels, Span<uint> classes)
    {
        for (int p = 0; p < pixels; p++)
        {
            int best = 0;
            float bestValue = probs[p];
            for (int c = 1; c < k; c++)
            {
                float x = probs[c * pixels + p];
                if (x > bestValue) { best = c; bestValue = x; }
            }
            classes[p] = (uint)best;
        }
    }

    /// <summary>1-based key of the arg-max (the lowest index on ties).</summary>
    public static uint ArgMaxKey(ReadOnlySpan<float> p)
    {
        int best = 0;
        for (int i = 1; i < p.Length; i++)
            if (p[i] > p[best]) best = i;
        return (uint)best + 1;
    }

    public static Exception WrongType<T>(DataViewSchema.Column col) =>
        new InvalidOperationException($"Invalid TValue in GetGetter for column '{col.Name}': expected {col.Type.RawType.Name}, got {typeof(T).Name}.");
}

/// <summary>
/// Reads the per-row control columns (budget, task weights) of one row source and resolves each row's configuration
/// against a <see cref="ControlSnapshot"/>; see the transformer's remarks for the rules. One instance per cursor or
/// row; not thread-safe.
/// </summary>
internal sealed class RowControl
{
    private readonly ControllableMultiTaskTransformer _parent;
    private readonly ValueGetter<float>? _getBudget;
    private readonly ValueGetter<VBuffer<float>>? _getWeights;
    private readonly string _budgetName = "", _weightsName = "";
    private VBuffer<float> _buffer;
    private float _budget;

    private RowControl(ControllableMultiTaskTransformer parent, DataViewRow row, DataViewSchema.Column? budget, DataViewSchema.Column? weights)
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
    public static RowControl? Create(ControllableMultiTaskTransformer parent, DataViewRow row,
        (DataViewSchema.Column? Budget, DataViewSchema.Column? Weights) columns) =>
        columns.Budget is null && columns.Weights is null ? null : new RowControl(parent, row, columns.Budget, columns.Weights);

    /// <summary>The configuration of the current row: its own budget and/or weights, the rest from
    /// <paramref name="control"/>.</summary>
    /// <param name="control">The transformer's control for this row.</param>
    /// <param name="row">The row's position, for error messages.</param>
    /// <exception cref="ArgumentOutOfRangeException">A bad budget or weights value in the row.</exception>
    /// <exception cref="BudgetInfeasibleException">The row's budget is below the cheapest configuration.</exception>
    public ResolvedConfiguration Resolve(ControlSnapshot control, long row)
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
                int tasks = _parent.Tasks.Count;
                var w = new double[n];
                int i = 0;
                foreach (float x in _buffer.DenseValues()) w[i++] = x;
                if (n != tasks)
                    throw new ArgumentOutOfRangeException(_weightsName,
                        $"Row {row}: the task weights column '{_weightsName}' holds {n} values {Vector(w)}; it needs {tasks} (one per task, in task order: " +
                        $"[{string.Join(", ", _parent.Tasks.Select(t => t.Name))}]) of {TaskPreferences.ValidRange}, or none (an empty vector) to use the transformer's weights.");
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
/// control columns, else the transformer's control read at that call). No lock: engines run in parallel.</summary>
internal sealed class ControllableMultiTaskMapper : IRowToRowMapper
{
    private readonly ControllableMultiTaskTransformer _parent;
    private readonly DataViewSchema.Column _features;
    private readonly (DataViewSchema.Column? Budget, DataViewSchema.Column? Weights) _control;

    public ControllableMultiTaskMapper(ControllableMultiTaskTransformer parent, DataViewSchema inputSchema)
    {
        _parent = parent;
        InputSchema = inputSchema;
        OutputSchema = parent.GetOutputSchema(inputSchema);
        _features = inputSchema[parent.FeatureColumnName];
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
            SchemaChecks.FeatureColumn(input.Schema, _parent.FeatureColumnName, _parent.Model.Channels, _parent.Model.Height, _parent.Model.Width, nameof(input));
        return new Row(this, input, activeColumns.Select(c => c.Index).ToHashSet());
    }

    private sealed class Row : DataViewRow
    {
        private readonly ControllableMultiTaskMapper _mapper;
        private readonly DataViewRow _input;
        private readonly HashSet<int> _active;
        private readonly float[] _image;
        private ValueGetter<VBuffer<float>>? _getFeatures;
        private RowControl? _rowControl;
        private bool _rowControlMade;
        private VBuffer<float> _buffer;
        private long _computedAt = -1;
        private float[][] _probs = Array.Empty<float[]>();

        public Row(ControllableMultiTaskMapper mapper, DataViewRow input, HashSet<int> active)
        {
            _mapper = mapper;
            _input = input;
            _active = active;
            IMultiTaskModel m = mapper._parent.Model;
            _image = new float[m.Channels * m.Height * m.Width];
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
            ControllableMultiTaskTransformer parent = _mapper._parent;
            (int task, bool isLabel) = parent.OutputLayout[column.Index - n];
            return OutputColumns.Getter<TValue>(column, parent.Tasks[task], isLabel, parent.Model.Height * parent.Model.Width, () => (Compute()[task], 0));
        }

        private float[][] Compute()
        {
            if (_computedAt == _input.Position && _input.Position >= 0) return _probs;
            ControllableMultiTaskTransformer parent = _mapper._parent;
            _getFeatures ??= _input.GetGetter<VBuffer<float>>(_input.Schema[_mapper._features.Index]);
            if (!_rowControlMade)
            {
                _rowControl = RowControl.Create(parent, _input, _mapper._control);
                _rowControlMade = true;
            }
            _getFeatures(ref _buffer);
            DataViewConversion.CopyDense(_buffer, _image, _input.Position, parent.FeatureColumnName);
            ControlSnapshot control = parent.Control; // read once: this row runs at one (budget, weights) pair
            ResolvedConfiguration config = _rowControl?.Resolve(control, _input.Position) ?? control.Selected;
            _probs = parent.Forward(_image, 1, config);
            _computedAt = _input.Position;
            return _probs;
        }
    }
}

/// <summary>The lazily transformed data view: cursors read <see cref="ControllableMultiTaskTransformer.BatchSize"/>
/// rows ahead and run one forward pass per batch and configuration.</summary>
internal sealed class ControllableMultiTaskDataView : IDataView
{
    private readonly ControllableMultiTaskTransformer _parent;
    private readonly IDataView _input;
    private readonly DataViewSchema.Column _features;
    private readonly (DataViewSchema.Column? Budget, DataViewSchema.Column? Weights) _control;

    public ControllableMultiTaskDataView(ControllableMultiTaskTransformer parent, IDataView input)
    {
        _parent = parent;
        _input = input;
        Schema = parent.GetOutputSchema(input.Schema);
        _features = input.Schema[parent.FeatureColumnName];
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
        private readonly ControllableMultiTaskDataView _view;
        private readonly ControllableMultiTaskTransformer _parent;
        private readonly DataViewRowCursor _inner;
        private readonly HashSet<int> _active;
        private readonly bool _needNetwork;
        private readonly IMultiTaskModel _model;
        private readonly ControlSnapshot _control;
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

        public BatchCursor(ControllableMultiTaskTransformer parent, ControllableMultiTaskDataView view, DataViewRowCursor inner,
            HashSet<int> active, bool needNetwork)
        {
            _view = view;
            _parent = parent;
            _inner = inner;
            _active = active;
            _needNetwork = needNetwork;
            _model = parent.Model;
            _control = parent.Control; // fixed for this pass
            _featureName = parent.FeatureColumnName;
            _batch = needNetwork ? parent.BatchSize : 1;
            _imageSize = _model.Channels * _model.Height * _model.Width;
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
                    DataViewConversion.CopyDense(_buffer, _images.AsSpan(_count * _imageSize, _imageSize), _innerRow, _featureName);
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
            int tasks = _model.Tasks.Count;
            var probs = new float[tasks][];
            int pixels = _model.Height * _model.Width;
            for (int t = 0; t < tasks; t++) probs[t] = new float[_count * OutputColumns.ScoreSize(_model.Tasks[t], pixels)];
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
                    int k = OutputColumns.ScoreSize(_model.Tasks[t], pixels);
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
            int size = OutputColumns.ScoreSize(_model.Tasks[task], _model.Height * _model.Width);
            return OutputColumns.Getter<TValue>(column, _model.Tasks[task], isLabel, _model.Height * _model.Width, () => (_probs[task], _index * size));
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

/// <summary>Holds one input column's values for the rows of a read-ahead batch.</summary>
internal abstract class ColumnBuffer
{
    public abstract void Capture(int slot);

    public abstract ValueGetter<TValue> Getter<TValue>(Func<int> slot);

    public static ColumnBuffer Create(DataViewRow row, DataViewSchema.Column column, int capacity)
    {
        Type def = column.Type is VectorDataViewType v ? typeof(VectorBuffer<>).MakeGenericType(v.ItemType.RawType)
            : typeof(ScalarBuffer<>).MakeGenericType(column.Type.RawType);
        return (ColumnBuffer)Activator.CreateInstance(def, BindingFlags.Public | BindingFlags.Instance, null, new object[] { row, column, capacity }, null)!;
    }

    private sealed class ScalarBuffer<T> : ColumnBuffer
    {
        private readonly ValueGetter<T> _get;
        private readonly T[] _values;
        private readonly DataViewSchema.Column _column;

        public ScalarBuffer(DataViewRow row, DataViewSchema.Column column, int capacity)
        {
            _get = row.GetGetter<T>(column);
            _values = new T[capacity];
            _column = column;
        }

        public override void Capture(int slot)
        {
            _get(ref _values[slot]);
            if (_values[slot] is ReadOnlyMemory<char> text) // the source may reuse its character buffer
                _values[slot] = (T)(object)text.ToString().AsMemory();
        }

        public override ValueGetter<TValue> Getter<TValue>(Func<int> slot)
        {
            if (typeof(TValue) != typeof(T)) throw OutputColumns.WrongType<TValue>(_column);
            ValueGetter<T> g = (ref T dst) => dst = _values[slot()];
            return (ValueGetter<TValue>)(Delegate)g;
        }
    }

    private sealed class VectorBuffer<T> : ColumnBuffer
    {
        private readonly ValueGetter<VBuffer<T>> _get;
        private readonly VBuffer<T>[] _values;
        private readonly DataViewSchema.Column _column;
        private VBuffer<T> _scratch;

        public VectorBuffer(DataViewRow row, DataViewSchema.Column column, int capacity)
        {
            _get = row.GetGetter<VBuffer<T>>(column);
            _values = new VBuffer<T>[capacity];
            _column = column;
        }

        public override void Capture(int slot)
        {
            _get(ref _scratch);
            _scratch.CopyTo(ref _values[slot]);
        }

        public override ValueGetter<TValue> Getter<TValue>(Func<int> slot)
        {
            if (typeof(TValue) != typeof(VBuffer<T>)) throw OutputColumns.WrongType<TValue>(_column);
            ValueGetter<VBuffer<T>> g = (ref VBuffer<T> dst) => _values[slot()].CopyTo(ref dst);
            return (ValueGetter<TValue>)(Delegate)g;
        }
    }
}
