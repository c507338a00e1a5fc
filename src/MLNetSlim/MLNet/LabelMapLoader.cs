using System.Globalization;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetSlim.Data;
using MLNetSlim.Model;
using MLNetSlim.Serving;

namespace MLNetSlim.MLNet;

/// <summary>
/// <c>mlContext.Transforms.LoadLabelMaps</c>: reads a grayscale PNG label map per row (path from a text column) into a
/// Vector&lt;Single, H*W&gt; column, values exact (8- or 16-bit integers as floats). Estimator and transformer in one
/// (its <c>Fit</c> only checks the schema, like ML.NET's trivial estimators); saved with the model.
/// </summary>
internal sealed class LabelMapLoader : IEstimator<ITransformer>, ITransformer
{
    private readonly string _output;
    private readonly string _input;
    private readonly string _folder;
    private readonly int _height;
    private readonly int _width;

    public LabelMapLoader(string output, string input, string folder, int height, int width)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(output, "outputColumnName");
        ArgumentException.ThrowIfNullOrWhiteSpace(input, "inputColumnName");
        if (height <= 0 || width <= 0)
            throw new ArgumentException($"LoadLabelMaps: height and width must be positive, got {height} x {width}.", height <= 0 ? nameof(height) : nameof(width));
        _output = output;
        _input = input;
        _folder = folder;
        _height = height;
        _width = width;
    }

    public bool IsRowToRowMapper => true;

    public ITransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        GetOutputSchema(input.Schema);
        return this;
    }

    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        SchemaShape.Column? col = null;
        foreach (SchemaShape.Column c in inputSchema) if (c.Name == _input) col = c;
        if (col is not SchemaShape.Column found)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"LoadLabelMaps: path column '{_input}' not found; expected Text (a PNG file path). Input columns: [{string.Join(", ", inputSchema.Select(c => c.Name))}].");
        if (found.Kind != SchemaShape.Column.VectorKind.Scalar || found.ItemType != TextDataViewType.Instance)
            throw new ArgumentOutOfRangeException(nameof(inputSchema), $"Schema mismatch for LoadLabelMaps path column '{_input}': expected Text, got {found.Kind} of {found.ItemType}.");
        var b = new DataViewSchema.Builder();
        b.AddColumn(_output, OutputType);
        SchemaShape added = MLNetInternals.ToShape(b.ToSchema());
        return new SchemaShape(inputSchema.Where(c => c.Name != _output).Concat(added));
    }

    private VectorDataViewType OutputType => new(NumberDataViewType.Single, _height, _width);

    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        PathColumn(inputSchema);
        var b = new DataViewSchema.Builder();
        b.AddColumns(inputSchema);
        b.AddColumn(_output, OutputType);
        return b.ToSchema();
    }

    private DataViewSchema.Column PathColumn(DataViewSchema schema)
    {
        if (schema.GetColumnOrNull(_input) is not DataViewSchema.Column col)
            throw new ArgumentOutOfRangeException("inputSchema", $"LoadLabelMaps: path column '{_input}' not found; expected Text (a PNG file path). Input columns: [{string.Join(", ", schema.Select(c => c.Name))}].");
        if (col.Type != TextDataViewType.Instance)
            throw new ArgumentOutOfRangeException("inputSchema", $"Schema mismatch for LoadLabelMaps path column '{_input}': expected Text, got {SchemaChecks.Describe(col.Type)}.");
        return col;
    }

    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new Mapper(this, inputSchema);

    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new View(this, input);
    }

    /// <summary>Reads row <paramref name="row"/>'s map into <paramref name="dst"/> (H*W values).</summary>
    private void Read(ReadOnlyMemory<char> path, long row, ref VBuffer<float> dst)
    {
        string p = path.ToString();
        if (string.IsNullOrWhiteSpace(p))
            throw new InvalidOperationException($"Row {row} (0-based): the path column '{_input}' of LoadLabelMaps (output '{_output}') is empty.");
        string full = string.IsNullOrEmpty(_folder) ? p : Path.Combine(_folder, p);
        if (!File.Exists(full))
            throw new FileNotFoundException($"Row {row} (0-based): label map '{full}' (path column '{_input}', output '{_output}') does not exist.", full);
        LabelMapPng.LabelMap map = LabelMapPng.Read(full);
        LabelMapPng.CheckSize(_output, row, map.Height, map.Width, _height, _width);
        VBufferEditor<float> ed = VBufferEditor.Create(ref dst, _height * _width);
        map.Values.AsSpan().CopyTo(ed.Values);
        dst = ed.Commit();
    }

    // ---- save / load --------------------------------------------------------------------------------------------

    internal const string LoaderSignature = "MLNetSlimLabelMapLoader";

    internal static ModelFormatInfo Format => new(
        ModelSignature: "MLNSLMAP",
        VersionWritten: 0x00010001,
        VersionReadable: 0x00010001,
        VersionWeCanReadBack: 0x00010001,
        LoaderSignature: LoaderSignature,
        LoaderAssemblyName: typeof(LabelMapLoader).Assembly.FullName!);

    void ICanSaveModel.Save(ModelSaveContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        MLNetInternals.Save(ctx, Format, w =>
        {
            w.Write(_output);
            w.Write(_input);
            w.Write(_folder);
            w.Write(_height);
            w.Write(_width);
        }, Array.Empty<(string, Action<BinaryWriter>)>());
    }

    internal static LabelMapLoader Create(IHostEnvironment env, object modelLoadContext)
    {
        var ctx = new MLNetInternals.LoadContext(modelLoadContext);
        ctx.CheckAtModel(Format);
        BinaryReader r = ctx.Reader;
        try
        {
            return new LabelMapLoader(r.ReadString(), r.ReadString(), r.ReadString(), r.ReadInt32(), r.ReadInt32());
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentException)
        {
            throw new InvalidModelFileException(ctx.FileName, (ctx.Directory ?? "") + "/Model.key", $"the LoadLabelMaps record cannot be read ({e.GetType().Name}).", e);
        }
    }

    internal static MethodInfo CreateMethod => typeof(LabelMapLoader).GetMethod(nameof(Create), BindingFlags.NonPublic | BindingFlags.Static)!;

    // ---- row mapping ---------------------------------------------------------------------------------------------

    private sealed class Mapper : IRowToRowMapper
    {
        private readonly LabelMapLoader _parent;
        private readonly DataViewSchema.Column _path;

        public Mapper(LabelMapLoader parent, DataViewSchema inputSchema)
        {
            _parent = parent;
            InputSchema = inputSchema;
            OutputSchema = parent.GetOutputSchema(inputSchema);
            _path = parent.PathColumn(inputSchema);
        }

        public DataViewSchema InputSchema { get; }

        public DataViewSchema OutputSchema { get; }

        public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
        {
            var needed = new SortedSet<int>();
            foreach (DataViewSchema.Column c in dependingColumns)
                needed.Add(c.Index < InputSchema.Count ? c.Index : _path.Index);
            return needed.Select(i => InputSchema[i]).ToArray();
        }

        public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
            new Row(_parent, input, OutputSchema, _path, activeColumns.Select(c => c.Index).ToHashSet());
    }

    /// <summary>The input row plus the label-map column (the last column of the schema).</summary>
    private sealed class Row : DataViewRowCursor
    {
        private readonly LabelMapLoader _parent;
        private readonly DataViewRow _input;
        private readonly DataViewSchema _schema;
        private readonly DataViewSchema.Column _path;
        private readonly HashSet<int> _active;
        private ValueGetter<ReadOnlyMemory<char>>? _getPath;
        private ReadOnlyMemory<char> _pathValue;

        public Row(LabelMapLoader parent, DataViewRow input, DataViewSchema schema, DataViewSchema.Column path, HashSet<int> active)
        {
            _parent = parent;
            _input = input;
            _schema = schema;
            _path = path;
            _active = active;
        }

        public override DataViewSchema Schema => _schema;

        public override long Position => _input.Position;

        public override long Batch => _input.Batch;

        public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();

        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        public override bool MoveNext() => _input is DataViewRowCursor c && c.MoveNext();

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < _input.Schema.Count) return _input.GetGetter<TValue>(_input.Schema[column.Index]);
            if (!_active.Contains(column.Index)) throw new InvalidOperationException($"Column '{column.Name}' is not active in this row.");
            if (typeof(TValue) != typeof(VBuffer<float>)) throw OutputColumns.WrongType<TValue>(column);
            ValueGetter<VBuffer<float>> g = (ref VBuffer<float> dst) =>
            {
                _getPath ??= _input.GetGetter<ReadOnlyMemory<char>>(_input.Schema[_path.Index]);
                _getPath(ref _pathValue);
                _parent.Read(_pathValue, _input.Position, ref dst);
            };
            return (ValueGetter<TValue>)(Delegate)g;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && _input is DataViewRowCursor c) c.Dispose();
            base.Dispose(disposing);
        }
    }

    private sealed class View : IDataView
    {
        private readonly LabelMapLoader _parent;
        private readonly IDataView _input;
        private readonly DataViewSchema.Column _path;

        public View(LabelMapLoader parent, IDataView input)
        {
            _parent = parent;
            _input = input;
            Schema = parent.GetOutputSchema(input.Schema);
            _path = parent.PathColumn(input.Schema);
        }

        public bool CanShuffle => _input.CanShuffle;

        public DataViewSchema Schema { get; }

        public long? GetRowCount() => _input.GetRowCount();

        public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
        {
            int n = _input.Schema.Count;
            HashSet<int> active = columnsNeeded.Select(c => c.Index).ToHashSet();
            var inputCols = active.Where(i => i < n).ToHashSet();
            if (active.Any(i => i >= n)) inputCols.Add(_path.Index);
            DataViewRowCursor inner = _input.GetRowCursor(inputCols.Select(i => _input.Schema[i]), rand);
            return new Row(_parent, inner, Schema, _path, active);
        }

        public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
            new[] { GetRowCursor(columnsNeeded, rand) };
    }
}
