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
    /// per-pixel tasks to (N, L, H, W) floats. Rows with a NaN or
    /// infinite feature are an error, or, with <see cref="ControllableMultiTaskEstimator.Options.SkipNonFiniteRows"/>,
    /// skipped and counted in <paramref name="skipped"/>. Key value 0 (missing) becomes
    /// <see cref="MultiTaskDataset.MissingLabel"/>: the row does not label that task.</summary>
    /// <exception cref="InvalidOperationException">A task without any labelled row, a wrong-length feature vector or a non-finite
    /// feature, naming the row (0-based), the column and (for values) the value; no rows.</exception>
    public static MultiTaskDataset Read(IDataView data, ControllableMultiTaskEstimator.Options options, IReadOnlyList<TaskDefinition> tasks,
        CancellationToken cancellationToken, out long skipped)
    {
        DataViewSchema schema = data.Schema;
        DataViewSchema.Column feat = SchemaChecks.FeatureColumn(schema, options.FeatureColumnName, options.ImageChannels, options.ImageHeight, options.ImageWidth, "input");
        var labelCols = new DataViewSchema.Column[tasks.Count];
        for (int t = 0; t < tasks.Count; t++)
            labelCols[t] = tasks[t].IsPerPixel
                ? SchemaChecks.LabelMapColumn(schema, tasks[t].Name, tasks[t].Kind.ToString(), options.Tasks[t].EffectiveLabelColumnName,
                    MultiTaskDataset.PixelLabelChannels(tasks[t]), options.ImageHeight, options.ImageWidth, "input")
                : SchemaChecks.LabelColumn(schema, tasks[t].Name, options.Tasks[t].EffectiveLabelColumnName, "input");

        int size = options.ImageSize;
        long? known = data.GetRowCount();
        var images = new FeatureReader(size, (int)Math.Min(known ?? 1024, int.MaxValue / Math.Max(1, size)));
        var labels = tasks.Select(t => new List<int>(t.IsPerPixel ? 0 : (int)Math.Min(known ?? 1024, int.MaxValue))).ToArray();
        int[] mapSizes = tasks.Select(t => t.IsPerPixel ? MultiTaskDataset.PixelLabelChannels(t) * options.ImageHeight * options.ImageWidth : 0).ToArray();
        var maps = tasks.Select((t, i) => t.IsPerPixel ? new FeatureReader(mapSizes[i], (int)Math.Min(known ?? 1024, int.MaxValue / Math.Max(1, mapSizes[i]))) : null).ToArray();

        using DataViewRowCursor cursor = data.GetRowCursor(labelCols.Append(feat));
        ValueGetter<VBuffer<float>> getFeatures = cursor.GetGetter<VBuffer<float>>(feat);
        var getLabels = labelCols.Select((c, t) => tasks[t].IsPerPixel ? null : KeyGetter(cursor, c)).ToArray();
        var getMaps = labelCols.Select((c, t) => tasks[t].IsPerPixel ? cursor.GetGetter<VBuffer<float>>(c) : null).ToArray();
        VBuffer<float> mapBuffer = default;
        long row = 0;
        skipped = 0;
        VBuffer<float> buffer = default;
        for (; cursor.MoveNext(); row++)
        {
            if ((row & 255) == 0) cancellationToken.ThrowIfCancellationRequested();
            getFeatures(ref buffer);
            if (!images.Add(buffer, row, feat.Name, options.SkipNonFiniteRows))
            {
                skipped++;
                continue;
            }
            for (int t = 0; t < getLabels.Length; t++)
            {
                if (getMaps[t] is ValueGetter<VBuffer<float>> getMap)
                {
                    getMap(ref mapBuffer);
                    maps[t]!.AddLabelMap(mapBuffer, row, labelCols[t].Name, tasks[t]);
                    continue;
                }
                // Key 0 is ML.NET's missing key: the row does not label this task (class index -1, ignored by the task's
                // loss and metrics; docs/data.md "Rows that label some tasks only").
                ulong key = getLabels[t]!();
                labels[t].Add(key == 0 ? MultiTaskDataset.MissingLabel : (int)(key - 1));
            }
        }
        if (row == 0) throw new InvalidOperationException("The training data has no rows.");
        if (row == skipped)
            throw new InvalidOperationException($"All {row} rows have a NaN or infinite value in features column '{feat.Name}' and were skipped (Options.SkipNonFiniteRows); no rows are left to train on.");
        for (int t = 0; t < tasks.Count; t++)
            if (!tasks[t].IsPerPixel && labels[t].TrueForAll(y => y == MultiTaskDataset.MissingLabel))
                throw new InvalidOperationException(
                    $"Task '{tasks[t].Name}' has no labelled row: all {labels[t].Count} rows have a missing label (key value 0) in column '{labelCols[t].Name}'. " +
                    "MapValueToKey gives key 0 to values not in its dictionary; build the key dictionary from the label values. " +
                    "(A missing label in some rows is allowed: those rows do not train or measure that task.)");
        return new MultiTaskDataset(images.ToArray(), options.ImageChannels, options.ImageHeight, options.ImageWidth, tasks,
            labels.Select(l => l.ToArray()).ToArray(), maps.Select(m => m?.ToArray()).ToArray());
    }

    private static Func<ulong> KeyGetter(DataViewRow row, DataViewSchema.Column col)
    {
        Type raw = col.Type.RawType;
        if (raw == typeof(uint)) { var g = row.GetGetter<uint>(col); uint v = 0; return () => { g(ref v); return v; }; }
        if (raw == typeof(ushort)) { var g = row.GetGetter<ushort>(col); ushort v = 0; return () => { g(ref v); return v; }; }
        if (raw == typeof(byte)) { var g = row.GetGetter<byte>(col); byte v = 0; return () => { g(ref v); return v; }; }
        if (raw == typeof(ulong)) { var g = row.GetGetter<ulong>(col); ulong v = 0; return () => { g(ref v); return v; }; }
        throw new ArgumentOutOfRangeException("input", $"Label column '{col.Name}' has key raw type {raw.Name}; expected Byte, UInt16, UInt32 or UInt64.");
    }

    /// <summary>Copies (possibly sparse) feature vectors into one growing NCHW float array.</summary>
    private sealed class FeatureReader
    {
        private readonly int _size;
        private float[] _data;
        private long _count;

        public FeatureReader(int size, int capacityRows)
        {
            _size = size;
            _data = new float[(long)size * Math.Max(1, capacityRows)];
        }

        /// <summary>Adds a row; false (and nothing added) when it has a non-finite value and <paramref name="skipNonFinite"/>.</summary>
        public bool Add(in VBuffer<float> v, long row, string column, bool skipNonFinite)
        {
            long need = (_count + 1) * _size;
            if (need > Array.MaxLength)
                throw new InvalidOperationException($"The data set does not fit in one float array at row {row}; use fewer or smaller images.");
            if (need > _data.Length)
                Array.Resize(ref _data, (int)Math.Min(Array.MaxLength, Math.Max(need, (long)_data.Length * 2)));
            Span<float> dst = _data.AsSpan((int)(_count * _size), _size);
            CopyValues(v, dst, row, column);
            int bad = FirstNonFinite(dst);
            if (bad >= 0)
            {
                if (skipNonFinite) return false;
                throw NonFinite(row, column, bad, dst[bad], "Set Options.SkipNonFiniteRows = true to skip such rows, or repair or filter them first.");
            }
            _count++;
            return true;
        }

        /// <summary>Adds a row's label map; a NaN or a segmentation value that is neither a class index nor the task's
        /// ignore value is an error naming the row, the column, the position and the value. (Depth's non-finite values
        /// are "no measurement" and pass: the losses and metrics skip them.)</summary>
        public void AddLabelMap(in VBuffer<float> v, long row, string column, TaskDefinition task)
        {
            long need = (_count + 1) * _size;
            if (need > Array.MaxLength)
                throw new InvalidOperationException($"The label maps of column '{column}' do not fit in one float array at row {row}; use fewer or smaller images.");
            if (need > _data.Length)
                Array.Resize(ref _data, (int)Math.Min(Array.MaxLength, Math.Max(need, (long)_data.Length * 2)));
            Span<float> dst = _data.AsSpan((int)(_count * _size), _size);
            if (v.Length != dst.Length)
                throw new InvalidOperationException($"Row {row} (0-based): label-map column '{column}' of task '{task.Name}' has {v.Length} values; expected {dst.Length}.");
            CopyValues(v, dst, row, column);
            for (int i = 0; i < dst.Length; i++)
            {
                float y = dst[i];
                bool ok = task.Kind switch
                {
                    TaskKind.Segmentation => y == task.IgnoreValue || (y >= 0 && y < task.NumClasses && y == MathF.Floor(y)),
                    TaskKind.Depth => true, // NaN, infinite or <= 0: no measurement, skipped by the loss and the metrics
                    _ => float.IsFinite(y),
                };
                if (!ok)
                    throw new InvalidOperationException(
                        $"Row {row} (0-based): label-map column '{column}' of task '{task.Name}' ({task.Kind}) holds {y.ToString(CultureInfo.InvariantCulture)} at position {i} " +
                        $"(channel {i / (dst.Length / MultiTaskDataset.PixelLabelChannels(task))}, pixel {i % (dst.Length / MultiTaskDataset.PixelLabelChannels(task))}); " +
                        (task.Kind == TaskKind.Segmentation
                            ? $"segmentation labels are class indices in [0, {task.NumClasses}) or the task's IgnoreValue ({task.IgnoreValue?.ToString(CultureInfo.InvariantCulture) ?? "none set"})."
                            : "label maps must be finite numbers (depth: set pixels without a measurement to 0 or another IgnoreValue)."));
            }
            _count++;
        }

        public float[] ToArray() => _data.Length == _count * _size ? _data : _data.AsSpan(0, (int)(_count * _size)).ToArray();
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

    private static InvalidOperationException NonFinite(long row, string column, int index, float value, string advice) =>
        new($"Row {row} (0-based): features column '{column}' holds {value.ToString(CultureInfo.InvariantCulture)} at position {index}; " +
            $"features must be finite numbers. {advice}");

    private static void CopyValues(in VBuffer<float> v, Span<float> dst, long row, string column)
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
