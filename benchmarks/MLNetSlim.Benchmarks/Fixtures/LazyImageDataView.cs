using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNetSlim.Fixtures;

/// <summary>
/// An IDataView of <c>rows</c> synthetic images generated on the fly from the row index (nothing is stored): column
/// "Features" Vector&lt;Single, C*H*W&gt; and one UInt32 key label column per task ("Task0", "Task1", ... with
/// <c>classes</c> keys each). The label of task t is a function of the row's image (its mean brightness plus t), so
/// training has something to learn. Deterministic: row i is the same in every cursor. Used by the streaming benchmark
/// and the memory test: materialised it would take rows x C*H*W x 4 bytes.
/// </summary>
public sealed class LazyImageDataView : IDataView
{
    private readonly long _rows;
    private readonly int _size;
    private readonly int _classes;
    private readonly int _tasks;
    private readonly FillRow? _fill;
    private readonly Func<long, int, int>? _label;

    /// <summary>Writes row i's image.</summary>
    public delegate void FillRow(long row, Span<float> image);

    /// <summary>A view over a <see cref="MLNetSlim.Data.MultiTaskDataset"/> (row i = image i, labels as keys; task
    /// columns named after the data set's tasks), read row by row like any IDataView.</summary>
    public LazyImageDataView(MLNetSlim.Data.MultiTaskDataset data)
    {
        _rows = data.Count;
        _size = data.ImageSize;
        _tasks = data.Tasks.Count;
        _fill = (row, image) => data.Images.AsSpan((int)(row * _size), _size).CopyTo(image);
        _label = (row, task) => data.Labels[task][row];
        var b = new DataViewSchema.Builder();
        b.AddColumn("Features", new VectorDataViewType(NumberDataViewType.Single, data.Channels, data.Height, data.Width));
        for (int t = 0; t < _tasks; t++) b.AddColumn(data.Tasks[t].Name, new KeyDataViewType(typeof(uint), data.Tasks[t].NumClasses));
        Schema = b.ToSchema();
    }

    /// <summary>Creates the view.</summary>
    public LazyImageDataView(long rows, int channels, int height, int width, int tasks = 2, int classes = 4)
    {
        _rows = rows;
        _size = channels * height * width;
        _classes = classes;
        _tasks = tasks;
        var b = new DataViewSchema.Builder();
        b.AddColumn("Features", new VectorDataViewType(NumberDataViewType.Single, channels, height, width));
        for (int t = 0; t < tasks; t++) b.AddColumn(TaskName(t), new KeyDataViewType(typeof(uint), classes));
        Schema = b.ToSchema();
    }

    /// <summary>The label column of task t.</summary>
    public static string TaskName(int t) => $"Task{t}";

    /// <summary>Row i's class for task t.</summary>
    public int ClassOf(long row, int task) => _label is not null ? _label(row, task) : (int)((Brightness(row) + task) % _classes);

    private int Brightness(long row) => (int)((ulong)(row * 2654435761L) % (ulong)_classes);

    /// <summary>Fills row i's image: a class-dependent level plus seeded noise, in [0, 1].</summary>
    public void Fill(long row, Span<float> image)
    {
        if (_fill is not null)
        {
            _fill(row, image);
            return;
        }
        float level = (Brightness(row) + 0.5f) / _classes;
        ulong state = (ulong)row * 6364136223846793005UL + 1442695040888963407UL;
        for (int i = 0; i < image.Length; i++)
        {
            state = state * 6364136223846793005UL + 1442695040888963407UL;
            float noise = ((state >> 40) & 0xFFFF) / 65535f - 0.5f;
            image[i] = Math.Clamp(level + 0.3f * noise, 0f, 1f);
        }
    }

    /// <inheritdoc/>
    public bool CanShuffle => false;

    /// <inheritdoc/>
    public DataViewSchema Schema { get; }

    /// <inheritdoc/>
    public long? GetRowCount() => _rows;

    /// <inheritdoc/>
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null) => new Cursor(this, columnsNeeded);

    /// <inheritdoc/>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        new[] { GetRowCursor(columnsNeeded, rand) };

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly LazyImageDataView _view;
        private readonly bool[] _active;
        private readonly float[] _image;
        private long _position = -1;
        private long _filled = -1;

        public Cursor(LazyImageDataView view, IEnumerable<DataViewSchema.Column> columns)
        {
            _view = view;
            _active = new bool[view.Schema.Count];
            foreach (DataViewSchema.Column c in columns) _active[c.Index] = true;
            _image = new float[view._size];
        }

        public override DataViewSchema Schema => _view.Schema;

        public override long Position => _position;

        public override long Batch => 0;

        public override bool IsColumnActive(DataViewSchema.Column column) => _active[column.Index];

        public override bool MoveNext()
        {
            if (_position + 1 >= _view._rows) return false;
            _position++;
            return true;
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId id) => id = new DataViewRowId((ulong)_position, 0);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index == 0)
            {
                ValueGetter<VBuffer<float>> features = (ref VBuffer<float> dst) =>
                {
                    if (_filled != _position)
                    {
                        _view.Fill(_position, _image);
                        _filled = _position;
                    }
                    var editor = VBufferEditor.Create(ref dst, _image.Length);
                    _image.AsSpan().CopyTo(editor.Values);
                    dst = editor.Commit();
                };
                return (ValueGetter<TValue>)(Delegate)features;
            }
            int task = column.Index - 1;
            ValueGetter<uint> label = (ref uint v) => v = (uint)_view.ClassOf(_position, task) + 1;
            return (ValueGetter<TValue>)(Delegate)label;
        }
    }
}
