using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.MLNet;

/// <summary>
/// "dense" mode: loads a saved model with per-pixel tasks and scores rows read from a JSON file
/// ({"Features": [[C*H*W floats], ...], "Budget": [per-row fractions] (optional), "TaskWeights": [[one per task], ...] (optional)}).
/// Usage: dense &lt;model.zip&gt; &lt;input.json&gt; [--budget TEXT] [--weights a=0.8,b=0.2]; the rows go through
/// <c>Transform</c>.
/// Prints JSON: configuration, and per task the score vectors and the predicted labels (a one-element array for a
/// classification key, the per-pixel classes for segmentation, nothing for the other per-pixel kinds).
/// </summary>
internal static class DenseHost
{
    public static int Run(string[] args)
    {
        (MLContext ml, ITransformer model, ControllableMultiTaskTransformer cmt) = ControlledModel.Load(args);

        using JsonDocument input = JsonDocument.Parse(File.ReadAllText(args[1]));
        float[][] features = Floats2(input.RootElement.GetProperty("Features"));
        float[]? budgets = input.RootElement.TryGetProperty("Budget", out JsonElement b) ? b.EnumerateArray().Select(x => x.GetSingle()).ToArray() : null;
        float[][]? weights = input.RootElement.TryGetProperty("TaskWeights", out JsonElement w) ? Floats2(w) : null;
        int size = cmt.Model.Channels * cmt.Model.Height * cmt.Model.Width;
        var rows = features.Select((f, i) => new DenseRow { Features = f, Budget = budgets?[i] ?? 1f, TaskWeights = weights?[i] ?? [] }).ToArray();
        SchemaDefinition def = SchemaDefinition.Create(typeof(DenseRow));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        if (budgets is null) def.Remove(def["Budget"]);
        IDataView data = ml.Data.LoadFromEnumerable(rows, def);

        var scores = cmt.Tasks.ToDictionary(t => t.Name, _ => new List<float[]>());
        var labels = cmt.Tasks.Where(t => t.Kind is TaskKind.Classification or TaskKind.Segmentation).ToDictionary(t => t.Name, _ => new List<uint[]>());
        IDataView scored = model.Transform(data);
        Read(scored.Schema, cols => scored.GetRowCursor(cols), cmt, scores, labels);
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            Budget = cmt.Budget.ToString(),
            Configuration = cmt.Configuration.ToString(),
            Scores = scores,
            Labels = labels,
        }));
        return 0;
    }

    private static void Read(DataViewSchema schema, Func<IEnumerable<DataViewSchema.Column>, DataViewRowCursor> open, ControllableMultiTaskTransformer cmt,
        Dictionary<string, List<float[]>> scores, Dictionary<string, List<uint[]>> labels)
    {
        var cols = new List<DataViewSchema.Column>();
        foreach (TaskDefinition t in cmt.Tasks)
        {
            cols.Add(schema[ControllableMultiTaskTransformer.ScoreColumnName(t.Name)]);
            if (labels.ContainsKey(t.Name)) cols.Add(schema[ControllableMultiTaskTransformer.PredictedLabelColumnName(t.Name)]);
        }
        using DataViewRowCursor cursor = open(cols);
        VBuffer<float> v = default;
        VBuffer<uint> classes = default;
        uint key = 0;
        while (cursor.MoveNext())
            foreach (TaskDefinition t in cmt.Tasks)
            {
                cursor.GetGetter<VBuffer<float>>(cursor.Schema[ControllableMultiTaskTransformer.ScoreColumnName(t.Name)])(ref v);
                scores[t.Name].Add(v.DenseValues().ToArray());
                if (t.Kind == TaskKind.Classification)
                {
                    cursor.GetGetter<uint>(cursor.Schema[ControllableMultiTaskTransformer.PredictedLabelColumnName(t.Name)])(ref key);
                    labels[t.Name].Add([key]);
                }
                else if (t.Kind == TaskKind.Segmentation)
                {
                    cursor.GetGetter<VBuffer<uint>>(cursor.Schema[ControllableMultiTaskTransformer.PredictedLabelColumnName(t.Name)])(ref classes);
                    labels[t.Name].Add(classes.DenseValues().ToArray());
                }
            }
    }

    private static float[][] Floats2(JsonElement e) => e.EnumerateArray().Select(a => a.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();

    private sealed class DenseRow
    {
        public float[] Features { get; set; } = [];
        public float Budget { get; set; } = 1f;
        public float[] TaskWeights { get; set; } = [];
    }
}
