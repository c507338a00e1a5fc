using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Model;

namespace MLNetSlim.Demo;

/// <summary>One image row of the ML.NET data view: (C, H, W) = (1, 28, 28) floats in [0, 1].</summary>
public sealed class ImageRow
{
    /// <summary>The pixels.</summary>
    [VectorType(784)]
    public float[] Features { get; set; } = [];

    /// <summary>The first <paramref name="count"/> images of a data set as rows.</summary>
    public static IEnumerable<ImageRow> From(MultiTaskDataset data, int count)
    {
        if (data.ImageSize != 784) throw new ArgumentException($"The demo's data view expects 1x28x28 images; got {data.Channels}x{data.Height}x{data.Width}.");
        for (int i = 0; i < Math.Min(count, data.Count); i++)
            yield return new ImageRow { Features = data.Images.AsSpan(i * 784, 784).ToArray() };
    }
}

/// <summary>One labelled image row of a two-task data set: the pixels and one key label per task (<see cref="Schema"/>
/// names the label columns after the tasks and declares them keys; LoadFromEnumerable stores a key-typed member's
/// 0-based value v as key v + 1, so the members hold class indices).</summary>
public sealed class LabelledImageRow
{
    /// <summary>The pixels, (C, H, W) floats.</summary>
    public float[] Features { get; set; } = [];

    /// <summary>The first task's class index (0-based).</summary>
    public uint Label0 { get; set; }

    /// <summary>The second task's class index (0-based).</summary>
    public uint Label1 { get; set; }

    /// <summary>The rows of a two-task classification data set with every label present.</summary>
    /// <exception cref="ArgumentException">Not two classification tasks.</exception>
    public static IEnumerable<LabelledImageRow> From(MultiTaskDataset data)
    {
        Check(data);
        int size = data.ImageSize;
        for (int i = 0; i < data.Count; i++)
            yield return new LabelledImageRow
            {
                Features = data.Images.AsSpan(i * size, size).ToArray(),
                Label0 = checked((uint)data.Labels[0][i]),
                Label1 = checked((uint)data.Labels[1][i]),
            };
    }

    /// <summary>The schema: Features Vector&lt;Single, C*H*W&gt;, and per task a key column named after the task with
    /// as many keys as the task has classes.</summary>
    public static SchemaDefinition Schema(MultiTaskDataset data)
    {
        Check(data);
        SchemaDefinition s = SchemaDefinition.Create(typeof(LabelledImageRow));
        s[nameof(Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, data.ImageSize);
        SchemaDefinition.Column first = s[nameof(Label0)], second = s[nameof(Label1)]; // (the indexer looks columns up by name)
        first.ColumnType = new KeyDataViewType(typeof(uint), data.Tasks[0].NumClasses);
        first.ColumnName = data.Tasks[0].Name;
        second.ColumnType = new KeyDataViewType(typeof(uint), data.Tasks[1].NumClasses);
        second.ColumnName = data.Tasks[1].Name;
        return s;
    }

    private static void Check(MultiTaskDataset data)
    {
        if (data.Tasks.Count != 2 || data.Tasks.Any(t => t.IsPerPixel))
            throw new ArgumentException($"The demo's labelled view expects two classification tasks; got [{string.Join(", ", data.Tasks.Select(t => $"{t.Name}: {t.Kind}"))}].", nameof(data));
    }
}

/// <summary>Result of the save/reload check.</summary>
/// <param name="Path">The model zip.</param>
/// <param name="Bytes">Its size.</param>
/// <param name="RowsCompared">Rows transformed by both transformers per control setting.</param>
/// <param name="Settings">The control settings compared (budget and weights), with the configuration chosen.</param>
/// <param name="MaxAbsScoreDifference">Largest |score difference| over all rows, tasks, classes and settings.</param>
/// <param name="PredictedLabelsEqual">Whether every predicted label agreed.</param>
public sealed record ReloadCheck(string Path, long Bytes, int RowsCompared, IReadOnlyList<string> Settings, double MaxAbsScoreDifference, bool PredictedLabelsEqual);

/// <summary>The demo's ML.NET steps: wrap, save, reload, compare; and extract a model from a loaded zip.</summary>
public static class MLNetBridge
{
    /// <summary>Wraps <paramref name="model"/> as a transformer (Fit on a 784-float Features column of the test images).</summary>
    public static (ControllableMultiTaskTransformer Transformer, IDataView View) Wrap(MLContext ml, ControllableMultiTaskModel model, MultiTaskDataset test)
    {
        ml.AddMLNetSlim();
        IDataView view = ml.Data.LoadFromEnumerable(ImageRow.From(test, test.Count));
        ControllableMultiTaskTransformer transformer = ml.Transforms.ApplyControllableMultiTaskModel(model).Fit(view);
        return (transformer, view);
    }

    /// <summary>The test images with their labels as an ML.NET data view (Features and one key column per task, named
    /// after the task), for the Evaluate catalog methods.</summary>
    public static IDataView LabelledView(MLContext ml, MultiTaskDataset test) =>
        ml.Data.LoadFromEnumerable(LabelledImageRow.From(test), LabelledImageRow.Schema(test));

    /// <summary>Saves crash-safely with <c>mlContext.Model.SaveAtomic</c> (temporary file, fsync, atomic rename).</summary>
    public static long Save(MLContext ml, ITransformer transformer, DataViewSchema schema, string path) =>
        ml.Model.SaveAtomic(transformer, schema, path);

    /// <summary>Loads a zip (with <c>LoadChecked</c>) and returns the MLNetSlim transformer inside it.</summary>
    /// <exception cref="FileNotFoundException">No such file (the message names the path).</exception>
    /// <exception cref="InvalidOperationException">The zip holds no MLNetSlim transformer.</exception>
    public static ControllableMultiTaskTransformer Load(MLContext ml, string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"Model file '{full}' does not exist (write one with the 'run' command).", full);
        ml.AddMLNetSlim();
        ITransformer loaded = ml.Model.LoadChecked(full, out _);
        return loaded.GetControllableMultiTaskTransformer();
    }

    /// <summary>The controllable model inside a transformer.</summary>
    /// <exception cref="InvalidOperationException">Another model type.</exception>
    public static ControllableMultiTaskModel ModelOf(ControllableMultiTaskTransformer transformer) =>
        transformer.Model as ControllableMultiTaskModel ?? throw new InvalidOperationException(
            $"The transformer's model is a {transformer.Model.GetType().FullName}; this demo needs a {nameof(ControllableMultiTaskModel)}.");

    /// <summary>
    /// Transforms the first <paramref name="rows"/> test rows with both transformers at the default control (full budget,
    /// equal weights) and at a budget of 0.5 with the first task preferred, and compares scores and labels.
    /// </summary>
    public static ReloadCheck Compare(MLContext ml, ControllableMultiTaskTransformer before, ControllableMultiTaskTransformer after,
        MultiTaskDataset test, int rows, string path)
    {
        IDataView view = ml.Data.LoadFromEnumerable(ImageRow.From(test, rows));
        string first = before.Tasks[0].Name;
        var weighted = before.Tasks.ToDictionary(t => t.Name, t => t.Name == first ? 0.9 : 0.1 / Math.Max(1, before.Tasks.Count - 1));
        var settings = new List<string>();
        double maxDiff = 0;
        bool labelsEqual = true;
        int n = 0;
        foreach ((Budget budget, IReadOnlyDictionary<string, double> weights) in new[]
                 {
                     (Budget.Full, (IReadOnlyDictionary<string, double>)before.Tasks.ToDictionary(t => t.Name, _ => 1.0)),
                     (Budget.FractionOfFull(0.5), weighted),
                 })
        {
            foreach (ControllableMultiTaskTransformer t in new[] { before, after })
            {
                t.Budget = budget;
                t.TaskWeights = weights;
            }
            if (!before.Configuration.Equals(after.Configuration))
                throw new InvalidOperationException($"The reloaded model chose {after.Configuration} for {budget}; the original chose {before.Configuration}.");
            settings.Add($"{budget}, weights {string.Join(" ", weights.Select(kv => $"{kv.Key}={kv.Value:0.##}"))} -> {before.Configuration}");
            IDataView a = before.Transform(view), b = after.Transform(view);
            foreach (var task in before.Tasks)
            {
                float[][] sa = a.GetColumn<float[]>(ControllableMultiTaskTransformer.ScoreColumnName(task.Name)).ToArray();
                float[][] sb = b.GetColumn<float[]>(ControllableMultiTaskTransformer.ScoreColumnName(task.Name)).ToArray();
                uint[] la = a.GetColumn<uint>(ControllableMultiTaskTransformer.PredictedLabelColumnName(task.Name)).ToArray();
                uint[] lb = b.GetColumn<uint>(ControllableMultiTaskTransformer.PredictedLabelColumnName(task.Name)).ToArray();
                n = sa.Length;
                for (int i = 0; i < sa.Length; i++)
                    for (int k = 0; k < sa[i].Length; k++) maxDiff = Math.Max(maxDiff, Math.Abs(sa[i][k] - sb[i][k]));
                labelsEqual &= la.SequenceEqual(lb);
            }
        }
        foreach (ControllableMultiTaskTransformer t in new[] { before, after })
        {
            t.Budget = Budget.Full;
            t.TaskWeights = before.Tasks.ToDictionary(x => x.Name, _ => 1.0);
        }
        return new ReloadCheck(path, new FileInfo(path).Length, n, settings, maxDiff, labelsEqual);
    }
}
