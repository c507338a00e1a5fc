using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;

namespace MLNetSlim.Serving;

/// <summary>The output columns of one task and how to fill them from a probability row.</summary>
internal static class OutputColumns
{
    /// <summary>Prefix of the per-task score columns (and ONNX outputs).</summary>
    public const string ScorePrefix = "Score.";

    /// <summary>Prefix of the per-task predicted label columns (and ONNX outputs).</summary>
    public const string PredictedLabelPrefix = "PredictedLabel.";

    /// <summary>Adds, per task T, <c>Score.T</c> and (classification, segmentation) <c>PredictedLabel.T</c>: for a
    /// per-image task with K classes Vector&lt;Single, K&gt; (SlotNames = class names) and Key&lt;UInt32, K&gt;
    /// (KeyValues = class names); for a per-pixel task (C, H, W) Vector&lt;Single&gt; maps and, for segmentation,
    /// (H, W) Vector&lt;UInt32&gt; of 0-based classes.</summary>
    public static void Add(DataViewSchema.Builder b, IReadOnlyList<TaskDefinition> tasks, int height, int width)
    {
        foreach (TaskDefinition t in tasks)
        {
            int k = t.NumClasses;
            var names = new VBuffer<ReadOnlyMemory<char>>(k, t.ClassNames.Select(n => n.AsMemory()).ToArray());
            if (t.IsPerPixel)
            {
                // (C, H, W) maps: no slot names (C*H*W of them would say nothing the layout does not).
                b.AddColumn(ScorePrefix + t.Name, new VectorDataViewType(NumberDataViewType.Single, t.OutputChannels, height, width));
                if (HasPredictedLabel(t))
                    b.AddColumn(PredictedLabelPrefix + t.Name, new VectorDataViewType(NumberDataViewType.UInt32, height, width));
                continue;
            }
            var scoreAnn = new DataViewSchema.Annotations.Builder();
            scoreAnn.Add("SlotNames", new VectorDataViewType(TextDataViewType.Instance, k), (ref VBuffer<ReadOnlyMemory<char>> v) => names.CopyTo(ref v));
            b.AddColumn(ScorePrefix + t.Name, new VectorDataViewType(NumberDataViewType.Single, k), scoreAnn.ToAnnotations());
            var labelAnn = new DataViewSchema.Annotations.Builder();
            labelAnn.Add("KeyValues", new VectorDataViewType(TextDataViewType.Instance, k), (ref VBuffer<ReadOnlyMemory<char>> v) => names.CopyTo(ref v));
            b.AddColumn(PredictedLabelPrefix + t.Name, new KeyDataViewType(typeof(uint), k), labelAnn.ToAnnotations());
        }
    }

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
