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
            if (task.Kind != TaskKind.Classification)
            {
                int l = task.Kind == TaskKind.Normals ? 3 : 1;
                SchemaChecks.LabelMapColumn(schema, task.Name, task.Kind.ToString(), task.EffectiveLabelColumnName, l, options.ImageHeight, options.ImageWidth, "input");
                tasks[t] = task.Kind == TaskKind.Segmentation
                    ? new TaskDefinition(task.Name, task.Kind, task.NumClasses!.Value, task.ClassNames) { IgnoreValue = task.IgnoreValue }
                    : TaskDefinition.PerPixel(task.Name, task.Kind, task.IgnoreValue);
                continue;
            }
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

    /// <summary>Reads every row: features to NCHW floats, key labels to 0-based class indices, label-map vectors of the
    /// per-pixel tasks to (N, L, H, W) floats (see <see cref="RowReader"/>). Key value 0 (missing) becomes
    /// <see cref="MultiTaskDataset.MissingLabel"/>: the row does not label that task. Rows with a NaN or infinite
    /// feature are an error, or, with <see cref="ControllableMultiTaskEstimator.Options.SkipNonFiniteRows"/>, skipped
    /// and counted in <paramref name="skipped"/>. The rows are read in chunks of <see cref="ChunkRows"/> and copied
    /// into one array at the end.</summary>
    /// <exception cref="InvalidOperationException">A classification task without any labelled row, a wrong-length
    /// feature vector or a non-finite feature, naming the row (0-based), the column and (for values) the value; no
    /// rows.</exception>
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
        for (int t = 0; t < tasks.Count; t++)
            if (all.ClassLabels[t] is int[] y && Array.TrueForAll(y, v => v == MultiTaskDataset.MissingLabel))
                throw NoLabelledRow(tasks[t].Name, reader.LabelColumns[t].Name, y.Length);
        return new MultiTaskDataset(all.Images, options.ImageChannels, options.ImageHeight, options.ImageWidth, tasks,
            Enumerable.Range(0, tasks.Count).Select(t => all.ClassLabels[t] ?? []).ToArray(), all.PixelLabels);
    }

    /// <summary>Rows per chunk of <see cref="Read"/>.</summary>
    private const int ChunkRows = 1024;

    /// <summary>The error for a classification task whose every read row has a missing label (key value 0); a missing
    /// label in some rows only is not an error (those rows do not train or measure that task).</summary>
    public static InvalidOperationException NoLabelledRow(string task, string column, long rows) => new(
        $"Task '{task}' has no labelled row: all {rows} rows have a missing label (key value 0) in column '{column}'. " +
        "MapValueToKey gives key 0 to values not in its dictionary; build the key dictionary from the label values. " +
        "(A missing label in some rows is allowed: those rows do not train or measure that task.)");

    /// <summary>The streamed path's form of <see cref="Read"/>'s "task without any labelled row" check (classification
    /// tasks only; per-pixel tasks have no class labels): one cursor pass over the classification label columns only,
    /// ending at the first point where every such task has a labelled row (key value above 0).</summary>
    /// <exception cref="InvalidOperationException">A classification task whose every row has key value 0.</exception>
    public static void CheckLabelledRows(IDataView data, ControllableMultiTaskEstimator.Options options, IReadOnlyList<TaskDefinition> tasks)
    {
        int[] classification = Enumerable.Range(0, tasks.Count).Where(t => !tasks[t].IsPerPixel).ToArray();
        if (classification.Length == 0) return;
        DataViewSchema.Column[] columns = classification.Select(t => data.Schema[options.Tasks[t].EffectiveLabelColumnName]).ToArray();
        using DataViewRowCursor cursor = data.GetRowCursor(columns);
        Func<ulong>[] keys = columns.Select(c => KeyGetter(cursor, c)).ToArray();
        var labelled = new bool[columns.Length];
        int left = columns.Length;
        long rows = 0;
        while (cursor.MoveNext())
        {
            rows++;
            for (int i = 0; i < keys.Length; i++)
                if (!labelled[i] && keys[i]() != 0)
                {
                    labelled[i] = true;
                    if (--left == 0) return;
                }
        }
        for (int i = 0; i < columns.Length; i++)
            if (!labelled[i]) throw NoLabelledRow(tasks[classification[i]].Name, columns[i].Name, rows);
    }

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
    /// <item>classification: a key column, key k -> class index k - 1; key 0 (ML.NET's missing key) -> class index
    /// <see cref="MultiTaskDataset.MissingLabel"/> (<see cref="ClassIndex"/> is the one place deciding a missing
    /// label): the row does not label that task, and its loss and metrics ignore it;</item>
    /// <item>per-pixel tasks (segmentation, depth, normals, edges, saliency): a <c>Vector&lt;Single&gt;</c> label-map
    /// column of L*H*W values in (L, H, W) order (L = 3 for normals, else 1; <see cref="SchemaChecks.LabelMapColumn"/>);
    /// segmentation values must be class indices in [0, K) or the task's IgnoreValue, depth values pass as they are
    /// (non-finite or &lt;= 0: no measurement), the other kinds must be finite.</item>
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
                    ? SchemaChecks.LabelMapColumn(schema, _tasks[t].Name, _tasks[t].Kind.ToString(), options.Tasks[t].EffectiveLabelColumnName,
                        MultiTaskDataset.PixelLabelChannels(_tasks[t]), options.ImageHeight, options.ImageWidth, argument)
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

        /// <summary>Key k -> class index k - 1; key 0 (ML.NET's missing key, which MapValueToKey gives to values not in
        /// its dictionary) -> <see cref="MultiTaskDataset.MissingLabel"/>: the row does not label this task (docs/data.md
        /// "Rows that label some tasks only").</summary>
        private int ClassIndex(ulong key, long row, int t)
        {
            if (key == 0) return MultiTaskDataset.MissingLabel;
            if (key > (ulong)_tasks[t].NumClasses)
                throw new InvalidOperationException($"Row {row} (0-based): label column '{_labels[t].Name}' (task '{_tasks[t].Name}') has key {key}, above the task's {_tasks[t].NumClasses} classes.");
            return (int)(key - 1);
        }

        private void ReadMap(long row, int t, float[] maps, int slot)
        {
            _getMaps[t]!(ref _map);
            TaskDefinition task = _tasks[t];
            string column = _labels[t].Name;
            int channels = MultiTaskDataset.PixelLabelChannels(task);
            int mapSize = channels * _height * _width;
            Span<float> dst = maps.AsSpan(slot * mapSize, mapSize);
            if (_map.Length != dst.Length)
                throw new InvalidOperationException($"Row {row} (0-based): label-map column '{column}' of task '{task.Name}' has {_map.Length} values; expected {dst.Length}.");
            CopyValues(_map, dst, row, column);
            // Depth's non-finite or <= 0 values are "no measurement" and pass: the losses and metrics skip them.
            if (task.Kind == TaskKind.Depth) return;
            for (int i = 0; i < dst.Length; i++)
            {
                float y = dst[i];
                bool ok = task.Kind == TaskKind.Segmentation
                    ? y == task.IgnoreValue || (y >= 0 && y < task.NumClasses && y == MathF.Floor(y))
                    : float.IsFinite(y);
                if (!ok)
                    throw new InvalidOperationException(
                        $"Row {row} (0-based): label-map column '{column}' of task '{task.Name}' ({task.Kind}) holds {y.ToString(CultureInfo.InvariantCulture)} at position {i} " +
                        $"(channel {i / (dst.Length / channels)}, pixel {i % (dst.Length / channels)}); " +
                        (task.Kind == TaskKind.Segmentation
                            ? $"segmentation labels are class indices in [0, {task.NumClasses}) or the task's IgnoreValue ({task.IgnoreValue?.ToString(CultureInfo.InvariantCulture) ?? "none set"})."
                            : "label maps must be finite numbers (depth: set pixels without a measurement to 0 or another IgnoreValue)."));
            }
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
