using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Data;
using MLNetSlim.Architecture;

namespace MLNetSlim.MLNet;

/// <summary>Reads an <see cref="IDataView"/> into a <see cref="MultiTaskDataset"/>.</summary>
internal static class DataViewConversion
{
    /// <summary>The task definitions from the options and the label columns' key types and KeyValues.</summary>
    public static TaskDefinition[] ResolveTasks(DataViewSchema schema, ControllableMultiTaskEstimator.Options options)
    {
        var tasks = new TaskDefinition[options.Tasks.Count];
        for (int t = 0; t < tasks.Length; t++)
        {
            ControllableMultiTaskEstimator.TaskColumn task = options.Tasks[t];
            DataViewSchema.Column col = SchemaChecks.LabelColumn(schema, task.Name, task.EffectiveLabelColumnName, "input");
            var key = (KeyDataViewType)col.Type;
            if (key.Count < 2 || key.Count > int.MaxValue)
                throw new ArgumentOutOfRangeException("input", $"Label column '{col.Name}' of task '{task.Name}' has {key.Count} key values; a task needs 2 to {int.MaxValue} classes.");
            int k = (int)key.Count;
            if (task.NumClasses is int want && want != k)
                throw new ArgumentOutOfRangeException("input",
                    $"Task '{task.Name}': Options NumClasses = {want} but label column '{col.Name}' is {SchemaChecks.Describe(col.Type)} ({k} classes).");
            IReadOnlyList<string> names = task.ClassNames ?? KeyValueNames(col) ?? Enumerable.Range(0, k).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
            if (names.Count != k)
                throw new ArgumentOutOfRangeException("input", $"Task '{task.Name}': {names.Count} class names for {k} classes in label column '{col.Name}'.");
            tasks[t] = new TaskDefinition(task.Name, TaskKind.Classification, k, names);
        }
        return tasks;
    }

    /// <summary>The KeyValues annotation of a key column as strings, or null when it has none.</summary>
    public static string[]? KeyValueNames(DataViewSchema.Column col)
    {
        DataViewSchema.Annotations a = col.Annotations;
        if (a.Schema.GetColumnOrNull("KeyValues") is not DataViewSchema.Column kv || kv.Type is not VectorDataViewType vt)
            return null;
        return (string[])typeof(DataViewConversion).GetMethod(nameof(ReadAnnotation), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(vt.ItemType.RawType).Invoke(null, new object[] { a })!;
    }

    private static string[] ReadAnnotation<T>(DataViewSchema.Annotations a)
    {
        VBuffer<T> values = default;
        a.GetValue("KeyValues", ref values);
        return values.DenseValues().Select(v => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "").ToArray();
    }

    /// <summary>True when <paramref name="data"/> has at least one row.</summary>
    public static bool HasRows(IDataView data)
    {
        if (data.GetRowCount() is long n) return n > 0;
        using DataViewRowCursor cursor = data.GetRowCursor(Array.Empty<DataViewSchema.Column>());
        return cursor.MoveNext();
    }

    /// <summary>Reads every row: features to NCHW floats, key labels to 0-based class indices (per-pixel label columns
    /// to label maps, see <see cref="RowReader"/>). Rows with a NaN or infinite feature are an error, or, with
    /// <see cref="ControllableMultiTaskEstimator.Options.SkipNonFiniteRows"/>, skipped and counted in
    /// <paramref name="skipped"/>. The rows are read in chunks of <see cref="ChunkRows"/> and copied into one array at
    /// the end.</summary>
    /// <exception cref="InvalidOperationException">A missing key (0), a wrong-length feature vector or a non-finite
    /// feature, naming the row (0-based), the column and (for values) the value; no rows.</exception>
    public static MultiTaskDataset Read(IDataView data, ControllableMultiTaskEstimator.Options options, IReadOnlyList<TaskDefinition> tasks,
        CancellationToken cancellationToken, out long skipped)
    {
        var reader = new RowReader(data.Schema, options, tasks, "input");
        int size = options.ImageSize;
        using DataViewRowCursor cursor = data.GetRowCursor(reader.Columns);
        reader.Bind(cursor);
        var chunks = new List<HostBatch>();
        HostBatch chunk = HostBatch.Allocate(tasks, ChunkRows, options.ImageChannels, options.ImageHeight, options.ImageWidth);
        int inChunk = 0;
        long row = 0, kept = 0;
        skipped = 0;
        for (; cursor.MoveNext(); row++)
        {
            if ((row & 255) == 0) cancellationToken.ThrowIfCancellationRequested();
            if (!reader.Read(row, chunk, inChunk))
            {
                skipped++;
                continue;
            }
            kept++;
            if (kept * size > Array.MaxLength)
                throw new InvalidOperationException(
                    $"The data set does not fit in one float array at row {row}; set Options.InMemoryCacheLimitMB below its size so that Fit streams it.");
            if (++inChunk == ChunkRows)
            {
                chunks.Add(chunk);
                chunk = HostBatch.Allocate(tasks, ChunkRows, options.ImageChannels, options.ImageHeight, options.ImageWidth);
                inChunk = 0;
            }
        }
        if (row == 0) throw new InvalidOperationException("The training data has no rows.");
        if (row == skipped)
            throw new InvalidOperationException($"All {row} rows have a NaN or infinite value in features column '{reader.FeatureColumn.Name}' and were skipped (Options.SkipNonFiniteRows); no rows are left to train on.");
        if (inChunk > 0) chunks.Add(chunk.WithCount(inChunk));
        HostBatch all = HostBatch.Allocate(tasks, (int)kept, options.ImageChannels, options.ImageHeight, options.ImageWidth);
        int n = 0;
        foreach (HostBatch c in chunks)
            for (int i = 0; i < c.Count; i++) c.CopyRow(i, all, n++, size);
        return new MultiTaskDataset(all.Images, options.ImageChannels, options.ImageHeight, options.ImageWidth, tasks,
            Enumerable.Range(0, tasks.Count).Select(t => all.ClassLabels[t] ?? []).ToArray(), all.PixelLabels);
    }

    /// <summary>Rows per chunk of <see cref="Read"/>.</summary>
    private const int ChunkRows = 1024;

    /// <summary>The error for a missing key label (key value 0), naming the row, the column and the task.</summary>
    public static InvalidOperationException MissingLabel(long row, string column, string task) => new(
        $"Row {row} (0-based) has a missing label in column '{column}' (task '{task}'): key value 0, " +
        "which MapValueToKey gives to values not in its dictionary. Filter such rows out, e.g. with " +
        $"mlContext.Data.FilterRowsByMissingValues, or build the key dictionary from all label values.");

    internal static Func<ulong> KeyGetter(DataViewRow row, DataViewSchema.Column col)
    {
        Type raw = col.Type.RawType;
        if (raw == typeof(uint)) { var g = row.GetGetter<uint>(col); uint v = 0; return () => { g(ref v); return v; }; }
        if (raw == typeof(ushort)) { var g = row.GetGetter<ushort>(col); ushort v = 0; return () => { g(ref v); return v; }; }
        if (raw == typeof(byte)) { var g = row.GetGetter<byte>(col); byte v = 0; return () => { g(ref v); return v; }; }
        if (raw == typeof(ulong)) { var g = row.GetGetter<ulong>(col); ulong v = 0; return () => { g(ref v); return v; }; }
        throw new ArgumentOutOfRangeException("input", $"Label column '{col.Name}' has key raw type {raw.Name}; expected Byte, UInt16, UInt32 or UInt64.");
    }

    /// <summary>
    /// Reads one row of an IDataView (the features column and every task's label column) into a slot of a
    /// <see cref="HostBatch"/>, checking it: the one row reader of the cached (<see cref="Read"/>) and the streamed
    /// (<see cref="DataViewBatches"/>) paths. Per task one label reader:
    /// <list type="bullet">
    /// <item>classification: a key column, key k -> class index k - 1; key 0 (missing) is an error naming the row and
    /// the column;</item>
    /// <item>per-pixel tasks (segmentation, depth, normals, edges, saliency): a <c>Vector&lt;Single&gt;</c> column of
    /// L*H*W values in (L, H, W) order (L = 3 for normals, else 1), copied as they are; segmentation values must be
    /// class indices in [0, K) or the task's ignore value.</item>
    /// </list>
    /// </summary>
    internal sealed class RowReader
    {
        private readonly TaskDefinition[] _tasks;
        private readonly DataViewSchema.Column[] _labels;
        private readonly int _imageSize, _height, _width;
        private readonly bool _skipNonFinite;
        private ValueGetter<VBuffer<float>>? _getFeatures;
        private Func<ulong>?[] _getKeys = [];
        private ValueGetter<VBuffer<float>>?[] _getMaps = [];
        private VBuffer<float> _features;
        private VBuffer<float> _map;

        /// <summary>Checks the columns of <paramref name="schema"/> (errors name <paramref name="argument"/>).</summary>
        public RowReader(DataViewSchema schema, ControllableMultiTaskEstimator.Options options, IReadOnlyList<TaskDefinition> tasks, string argument)
        {
            FeatureColumn = SchemaChecks.FeatureColumn(schema, options.FeatureColumnName, options.ImageChannels, options.ImageHeight, options.ImageWidth, argument);
            _tasks = tasks.ToArray();
            _labels = new DataViewSchema.Column[_tasks.Length];
            for (int t = 0; t < _tasks.Length; t++)
                _labels[t] = _tasks[t].IsPerPixel
                    ? PixelLabelColumn(schema, _tasks[t], options.Tasks[t].EffectiveLabelColumnName, options.ImageHeight, options.ImageWidth, argument)
                    : SchemaChecks.LabelColumn(schema, _tasks[t].Name, options.Tasks[t].EffectiveLabelColumnName, argument);
            _imageSize = options.ImageSize;
            _height = options.ImageHeight;
            _width = options.ImageWidth;
            _skipNonFinite = options.SkipNonFiniteRows;
        }

        /// <summary>The features column.</summary>
        public DataViewSchema.Column FeatureColumn { get; }

        /// <summary>The label columns, in task order.</summary>
        public IReadOnlyList<DataViewSchema.Column> LabelColumns => _labels;

        /// <summary>The columns a cursor must activate.</summary>
        public DataViewSchema.Column[] Columns => _labels.Append(FeatureColumn).ToArray();

        /// <summary>Takes the getters of a cursor over <see cref="Columns"/>.</summary>
        public void Bind(DataViewRow cursor)
        {
            _getFeatures = cursor.GetGetter<VBuffer<float>>(FeatureColumn);
            _getKeys = new Func<ulong>?[_tasks.Length];
            _getMaps = new ValueGetter<VBuffer<float>>?[_tasks.Length];
            for (int t = 0; t < _tasks.Length; t++)
            {
                if (_tasks[t].IsPerPixel) _getMaps[t] = cursor.GetGetter<VBuffer<float>>(_labels[t]);
                else _getKeys[t] = KeyGetter(cursor, _labels[t]);
            }
        }

        /// <summary>Reads the cursor's current row (position <paramref name="row"/>, 0-based) into slot
        /// <paramref name="slot"/> of <paramref name="target"/>; false when it holds a non-finite feature and
        /// Options.SkipNonFiniteRows is set (the slot is then undefined and not used).</summary>
        /// <exception cref="InvalidOperationException">A bad row (the message names the row, the column and the value).</exception>
        public bool Read(long row, HostBatch target, int slot)
        {
            _getFeatures!(ref _features);
            Span<float> image = target.Images.AsSpan(slot * _imageSize, _imageSize);
            CopyValues(_features, image, row, FeatureColumn.Name);
            int bad = FirstNonFinite(image);
            if (bad >= 0)
            {
                if (_skipNonFinite) return false;
                throw NonFinite(row, FeatureColumn.Name, bad, image[bad],
                    "Set Options.SkipNonFiniteRows = true to skip such rows, or repair or filter them first; training stops before the optimiser step that would use it.");
            }
            for (int t = 0; t < _tasks.Length; t++)
            {
                if (_getKeys[t] is Func<ulong> key) target.ClassLabels[t]![slot] = ClassIndex(key(), row, t);
                else ReadMap(row, t, target.PixelLabels[t]!, slot);
            }
            return true;
        }

        private int ClassIndex(ulong key, long row, int t)
        {
            if (key == 0) throw MissingLabel(row, _labels[t].Name, _tasks[t].Name);
            if (key > (ulong)_tasks[t].NumClasses)
                throw new InvalidOperationException($"Row {row} (0-based): label column '{_labels[t].Name}' (task '{_tasks[t].Name}') has key {key}, above the task's {_tasks[t].NumClasses} classes.");
            return (int)(key - 1);
        }

        private void ReadMap(long row, int t, float[] maps, int slot)
        {
            _getMaps[t]!(ref _map);
            int mapSize = MultiTaskDataset.PixelLabelChannels(_tasks[t]) * _height * _width;
            Span<float> dst = maps.AsSpan(slot * mapSize, mapSize);
            if (_map.Length != mapSize)
                throw new InvalidOperationException(
                    $"Row {row} (0-based): label column '{_labels[t].Name}' (task '{_tasks[t].Name}') has {_map.Length} values; expected {mapSize} ({MultiTaskDataset.PixelLabelChannels(_tasks[t])} x {_height} x {_width}).");
            CopyValues(_map, dst, row, _labels[t].Name);
            if (_tasks[t].Kind != TaskKind.Segmentation) return;
            double? ignore = _tasks[t].IgnoreValue;
            for (int i = 0; i < dst.Length; i++)
            {
                float y = dst[i];
                if (y != ignore && !(y >= 0 && y < _tasks[t].NumClasses && y == MathF.Floor(y)))
                    throw new InvalidOperationException(
                        $"Row {row} (0-based): label column '{_labels[t].Name}' (task '{_tasks[t].Name}') holds {y.ToString(CultureInfo.InvariantCulture)} at position {i}; " +
                        $"a segmentation label must be a class index in [0, {_tasks[t].NumClasses}) or the ignore value ({ignore?.ToString(CultureInfo.InvariantCulture) ?? "none"}).");
            }
        }

        private static DataViewSchema.Column PixelLabelColumn(DataViewSchema schema, TaskDefinition task, string name, int height, int width, string argument)
        {
            int size = MultiTaskDataset.PixelLabelChannels(task) * height * width;
            DataViewSchema.Column col = schema.GetColumnOrNull(name)
                ?? throw new ArgumentOutOfRangeException(argument, $"Label column '{name}' of task '{task.Name}' ({task.Kind}) is missing; expected Vector<Single, {size}>.");
            if (col.Type is not VectorDataViewType { ItemType: var item } v || item != NumberDataViewType.Single || v.Size != size)
                throw new ArgumentOutOfRangeException(argument,
                    $"Label column '{name}' of task '{task.Name}' ({task.Kind}) is {SchemaChecks.Describe(col.Type)}; expected Vector<Single, {size}> ((L, H, W) = ({MultiTaskDataset.PixelLabelChannels(task)}, {height}, {width})).");
            return col;
        }
    }

    /// <summary>Writes <paramref name="v"/> densely into <paramref name="dst"/> for prediction.</summary>
    /// <exception cref="InvalidOperationException">The vector's length is not dst's length, or it holds a NaN or infinite
    /// value (the message names the row, the column, the position and the value): a network fed such a value returns
    /// NaN scores, and an arg-max over them would be a confident-looking but meaningless label.</exception>
    public static void CopyDense(in VBuffer<float> v, Span<float> dst, long row, string column)
    {
        CopyValues(v, dst, row, column);
        int bad = FirstNonFinite(dst);
        if (bad >= 0) throw NonFinite(row, column, bad, dst[bad], "The model cannot score such a row; repair or filter it first.");
    }

    /// <summary>Index of the first NaN or infinite value, or -1.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    internal static InvalidOperationException NonFinite(long row, string column, int index, float value, string advice) =>
        new($"Row {row} (0-based): features column '{column}' holds {value.ToString(CultureInfo.InvariantCulture)} at position {index}; " +
            $"features must be finite numbers. {advice}");

    internal static void CopyValues(in VBuffer<float> v, Span<float> dst, long row, string column)
    {
        if (v.Length != dst.Length)
            throw new InvalidOperationException($"Row {row} (0-based): features column '{column}' has {v.Length} values; expected {dst.Length}.");
        ReadOnlySpan<float> values = v.GetValues();
        if (v.IsDense)
        {
            values.CopyTo(dst);
            return;
        }
        dst.Clear();
        ReadOnlySpan<int> indices = v.GetIndices();
        for (int i = 0; i < values.Length; i++) dst[indices[i]] = values[i];
    }
}
