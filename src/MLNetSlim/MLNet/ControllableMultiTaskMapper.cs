using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.MLNet;

/// <summary>The output columns of one task and how to fill them from a probability row.</summary>
internal static class OutputColumns
{
    /// <summary>Index of the first added column is the input column count; then per task: score, predicted label.</summary>
    public static (int Task, bool IsLabel) Decode(int outputIndex, int inputCount) =>
        ((outputIndex - inputCount) / 2, (outputIndex - inputCount) % 2 == 1);

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

/// <summary>The single-row mapper (prediction engines): one forward pass per row, at the transformer's current
/// configuration.</summary>
internal sealed class ControllableMultiTaskMapper : IRowToRowMapper
{
    private readonly ControllableMultiTaskTransformer _parent;
    private readonly DataViewSchema.Column _features;

    public ControllableMultiTaskMapper(ControllableMultiTaskTransformer parent, DataViewSchema inputSchema)
    {
        _parent = parent;
        InputSchema = inputSchema;
        OutputSchema = parent.GetOutputSchema(inputSchema);
        _features = inputSchema[parent.FeatureColumnName];
    }

    public DataViewSchema InputSchema { get; }

    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var needed = new SortedSet<int>();
        foreach (DataViewSchema.Column c in dependingColumns)
            needed.Add(c.Index < InputSchema.Count ? c.Index : _features.Index);
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
            (int task, bool isLabel) = OutputColumns.Decode(column.Index, n);
            if (isLabel)
            {
                if (typeof(TValue) != typeof(uint)) throw OutputColumns.WrongType<TValue>(column);
                ValueGetter<uint> g = (ref uint dst) => dst = OutputColumns.ArgMaxKey(Compute()[task]);
                return (ValueGetter<TValue>)(Delegate)g;
            }
            if (typeof(TValue) != typeof(VBuffer<float>)) throw OutputColumns.WrongType<TValue>(column);
            ValueGetter<VBuffer<float>> s = (ref VBuffer<float> dst) =>
            {
                float[] p = Compute()[task];
                VBufferEditor<float> ed = VBufferEditor.Create(ref dst, p.Length);
                p.CopyTo(ed.Values);
                dst = ed.Commit();
            };
            return (ValueGetter<TValue>)(Delegate)s;
        }

        private float[][] Compute()
        {
            if (_computedAt == _input.Position && _input.Position >= 0) return _probs;
            ControllableMultiTaskTransformer parent = _mapper._parent;
            _getFeatures ??= _input.GetGetter<VBuffer<float>>(_input.Schema[_mapper._features.Index]);
            _getFeatures(ref _buffer);
            DataViewConversion.CopyDense(_buffer, _image, _input.Position, parent.FeatureColumnName);
            WidthConfiguration config = parent.Control.Configuration;
            float[][] outputs;
            lock (parent.PredictLock) outputs = parent.Model.Predict(_image, 1, config);
            _probs = outputs;
            _computedAt = _input.Position;
            return _probs;
        }
    }
}

/// <summary>The lazily transformed data view: cursors read <see cref="ControllableMultiTaskTransformer.BatchSize"/>
/// rows ahead and run one forward pass per batch.</summary>
internal sealed class ControllableMultiTaskDataView : IDataView
{
    private readonly ControllableMultiTaskTransformer _parent;
    private readonly IDataView _input;
    private readonly DataViewSchema.Column _features;

    public ControllableMultiTaskDataView(ControllableMultiTaskTransformer parent, IDataView input)
    {
        _parent = parent;
        _input = input;
        Schema = parent.GetOutputSchema(input.Schema);
        _features = input.Schema[parent.FeatureColumnName];
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
        if (needNetwork) inputCols.Add(_features.Index);
        DataViewRowCursor inner = _input.GetRowCursor(inputCols.Select(i => _input.Schema[i]), rand);
        return new BatchCursor(_parent, this, inner, active, needNetwork);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        new[] { GetRowCursor(columnsNeeded, rand) };

    private sealed class BatchCursor : DataViewRowCursor
    {
        private readonly ControllableMultiTaskDataView _view;
        private readonly DataViewRowCursor _inner;
        private readonly HashSet<int> _active;
        private readonly bool _needNetwork;
        private readonly IMultiTaskModel _model;
        private readonly object _predictLock;
        private readonly WidthConfiguration _config;
        private readonly int _batch;
        private readonly int _imageSize;
        private readonly float[] _images;
        private readonly ColumnBuffer?[] _columns;
        private readonly DataViewRowId[] _ids;
        private readonly ValueGetter<DataViewRowId> _innerIds;
        private readonly ValueGetter<VBuffer<float>>? _getFeatures;
        private readonly string _featureName;
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
            _inner = inner;
            _active = active;
            _needNetwork = needNetwork;
            _model = parent.Model;
            _predictLock = parent.PredictLock;
            _config = parent.Control.Configuration; // fixed for this pass
            _featureName = parent.FeatureColumnName;
            _batch = needNetwork ? parent.BatchSize : 1;
            _imageSize = _model.Channels * _model.Height * _model.Width;
            _images = needNetwork ? new float[_batch * _imageSize] : Array.Empty<float>();
            _columns = new ColumnBuffer?[view._input.Schema.Count];
            foreach (int i in active.Where(i => i < _columns.Length))
                _columns[i] = ColumnBuffer.Create(inner, view._input.Schema[i], _batch);
            _ids = new DataViewRowId[_batch];
            _innerIds = inner.GetIdGetter();
            if (needNetwork) _getFeatures = inner.GetGetter<VBuffer<float>>(view._features);
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
            if (_needNetwork)
                lock (_predictLock) _probs = _model.Predict(_images.AsSpan(0, _count * _imageSize), _count, _config);
            _index = 0;
            _position++;
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!_active.Contains(column.Index))
                throw new InvalidOperationException($"Column '{column.Name}' was not requested when this cursor was created.");
            int n = _columns.Length;
            if (column.Index < n) return _columns[column.Index]!.Getter<TValue>(() => _index);
            (int task, bool isLabel) = OutputColumns.Decode(column.Index, n);
            int k = _model.Tasks[task].NumClasses;
            if (isLabel)
            {
                if (typeof(TValue) != typeof(uint)) throw OutputColumns.WrongType<TValue>(column);
                ValueGetter<uint> g = (ref uint dst) => dst = OutputColumns.ArgMaxKey(_probs[task].AsSpan(_index * k, k));
                return (ValueGetter<TValue>)(Delegate)g;
            }
            if (typeof(TValue) != typeof(VBuffer<float>)) throw OutputColumns.WrongType<TValue>(column);
            ValueGetter<VBuffer<float>> s = (ref VBuffer<float> dst) =>
            {
                VBufferEditor<float> ed = VBufferEditor.Create(ref dst, k);
                _probs[task].AsSpan(_index * k, k).CopyTo(ed.Values);
                dst = ed.Commit();
            };
            return (ValueGetter<TValue>)(Delegate)s;
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
