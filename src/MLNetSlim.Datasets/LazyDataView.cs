using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetSlim.Datasets;

/// <summary>
/// A read-only <see cref="IDataView"/> whose rows are produced on demand from files: a cursor asks its row source for
/// row i only when a getter of row i is first called, and only for the active columns, so nothing is materialised
/// beyond the current row. Row order is fixed (no shuffling); one cursor per cursor set.
/// </summary>
internal sealed class LazyDataView : IDataView
{
    /// <summary>Reads rows for one cursor (opened per cursor, disposed with it).</summary>
    public interface IRowSource : IDisposable
    {
        /// <summary>The values of row <paramref name="row"/> (0-based), one per schema column, in the column's raw type
        /// (<c>VBuffer&lt;float&gt;</c>, <c>uint</c> for keys, <c>ReadOnlyMemory&lt;char&gt;</c> for text); entries of
        /// inactive columns may be null.</summary>
        object?[] Read(long row, bool[] active);
    }

    private readonly long _rowCount;
    private readonly Func<IRowSource> _open;

    public LazyDataView(DataViewSchema schema, long rowCount, Func<IRowSource> open)
    {
        Schema = schema;
        _rowCount = rowCount;
        _open = open;
    }

    public bool CanShuffle => false;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => _rowCount;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) =>
        new Cursor(this, columnsNeeded);

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly LazyDataView _view;
        private readonly bool[] _active;
        private readonly IRowSource _source;
        private long _position = -1;
        private object?[]? _row;
        private bool _disposed;

        public Cursor(LazyDataView view, IEnumerable<DataViewSchema.Column> columnsNeeded)
        {
            _view = view;
            _active = new bool[view.Schema.Count];
            foreach (DataViewSchema.Column c in columnsNeeded) _active[c.Index] = true;
            _source = view._open();
        }

        public override long Position => _position;

        public override long Batch => 0;

        public override DataViewSchema Schema => _view.Schema;

        public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

        public override bool MoveNext()
        {
            if (_disposed || _position >= _view._rowCount) return false;
            _position++;
            _row = null;
            return _position < _view._rowCount;
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() =>
            (ref DataViewRowId value) => value = new DataViewRowId((ulong)_position, 0);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!_active[column.Index])
                throw new InvalidOperationException($"Column '{column.Name}' is not active in this cursor; request it in GetRowCursor.");
            int index = column.Index;
            return (ref TValue value) =>
            {
                if (_position < 0 || _position >= _view._rowCount)
                    throw new InvalidOperationException("The cursor is not on a row; call MoveNext first.");
                _row ??= _source.Read(_position, _active);
                value = (TValue)_row[index]!;
            };
        }

        protected override void Dispose(bool disposing)
        {
            if (_disposed) return;
            _disposed = true;
            if (disposing) _source.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>A key column's type with its KeyValues annotation (the class names), as <c>MapValueToKey</c> makes it.</summary>
    public static void AddKeyColumn(DataViewSchema.Builder builder, string name, IReadOnlyList<string> classNames)
    {
        var annotations = new DataViewSchema.Annotations.Builder();
        var names = new VBuffer<ReadOnlyMemory<char>>(classNames.Count, classNames.Select(n => n.AsMemory()).ToArray());
        annotations.Add("KeyValues", new VectorDataViewType(TextDataViewType.Instance, classNames.Count),
            (ref VBuffer<ReadOnlyMemory<char>> v) => names.CopyTo(ref v));
        builder.AddColumn(name, new KeyDataViewType(typeof(uint), classNames.Count), annotations.ToAnnotations());
    }
}
