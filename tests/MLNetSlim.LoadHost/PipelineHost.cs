using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.MLNet;

/// <summary>
/// "pipeline" mode: loads a whole saved ML.NET pipeline (image loading, resizing, pixel extraction, the controllable
/// multi-task transformer, MapKeyToValue) and scores the rows of a labels TSV (header: ImagePath, then one text column
/// per task). Usage: pipeline &lt;model.zip&gt; &lt;labels.tsv&gt; [--budget TEXT] [--weights a=0.8,b=0.2].
/// Prints JSON: budget, configuration, MACs, and per task the predicted labels and scores.
/// </summary>
internal static class PipelineHost
{
    public static int Run(string[] args)
    {
        (MLContext ml, ITransformer model, ControllableMultiTaskTransformer cmt) = ControlledModel.Load(args);

        string[] header = File.ReadLines(args[1]).First().Split('\t');
        var columns = header.Select((name, i) => new TextLoader.Column(name, DataKind.String, i)).ToArray();
        IDataView rows = ml.Data.LoadFromTextFile(args[1], columns, separatorChar: '\t', hasHeader: true);
        IDataView scored = model.Transform(rows);

        var labels = new Dictionary<string, List<string>>();
        var scores = new Dictionary<string, List<float[]>>();
        var tasks = cmt.Tasks.Select(t => (t.Name, Score: scored.Schema[ControllableMultiTaskTransformer.ScoreColumnName(t.Name)],
            Label: scored.Schema[ControllableMultiTaskTransformer.PredictedLabelColumnName(t.Name)])).ToArray();
        using (DataViewRowCursor cursor = scored.GetRowCursor(tasks.SelectMany(t => new[] { t.Score, t.Label })))
        {
            var getters = tasks.Select(t => (t.Name, S: cursor.GetGetter<VBuffer<float>>(t.Score), L: cursor.GetGetter<ReadOnlyMemory<char>>(t.Label))).ToArray();
            foreach (var t in tasks) { labels[t.Name] = new(); scores[t.Name] = new(); }
            VBuffer<float> v = default;
            ReadOnlyMemory<char> text = default;
            while (cursor.MoveNext())
                foreach (var g in getters)
                {
                    g.S(ref v);
                    scores[g.Name].Add(v.DenseValues().ToArray());
                    g.L(ref text);
                    labels[g.Name].Add(text.ToString());
                }
        }
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            Budget = cmt.Budget.ToString(),
            Configuration = cmt.Configuration.ToString(),
            cmt.ConfigurationMacs,
            cmt.FullMacs,
            Labels = labels,
            Scores = scores,
        }));
        return 0;
    }
}
