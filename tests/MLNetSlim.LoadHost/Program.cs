// Loads an ML.NET model zip holding an MLNetSlim transformer in a fresh process, runs it on the given images and
// prints the predictions as JSON (floats in shortest round-trip form).
// Usage: MLNetSlim.LoadHost <model.zip> <input.json> [--no-register] [--budget <text>]
// input.json: {"Features": [[...C*H*W floats...], ...]}
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Testing;

if (args.Length >= 3 && args[0] == "pipeline")
{
    try { return PipelineHost.Run(args[1..]); }
    catch (Exception e) { Console.Error.WriteLine($"{e.GetType().FullName}: {e.Message}"); return 1; }
}
if (args.Length >= 3 && args[0] == "dense")
{
    try { return DenseHost.Run(args[1..]); }
    catch (Exception e) { Console.Error.WriteLine($"{e.GetType().FullName}: {e.Message}"); return 1; }
}
if (args.Length >= 2 && args[0] == "save-loop")
{
    try { return SaveLoopHost.Run(args[1..]); }
    catch (Exception e) { Console.Error.WriteLine($"{e.GetType().FullName}: {e.Message}"); return 1; }
}
if (args.Length < 2)
{
    Console.Error.WriteLine("usage: MLNetSlim.LoadHost <model.zip> <input.json> [--no-register] [--budget <text>]");
    return 2;
}
string modelPath = args[0];
bool register = !args.Contains("--no-register");
int bi = Array.IndexOf(args, "--budget");
string? budgetText = bi >= 0 && bi + 1 < args.Length ? args[bi + 1] : null;

try
{
    var ml = new MLContext(seed: 1);
    MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
    if (register) ml.AddMLNetSlim();
    ITransformer model = ml.Model.LoadChecked(modelPath, out DataViewSchema _);
    ControllableMultiTaskTransformer cmt = model.GetControllableMultiTaskTransformer();
    if (budgetText is not null) cmt.Budget = Budget.Parse(budgetText);

    using JsonDocument input = JsonDocument.Parse(File.ReadAllText(args[1]));
    float[][] features = input.RootElement.GetProperty("Features").EnumerateArray()
        .Select(a => a.EnumerateArray().Select(v => v.GetSingle()).ToArray()).ToArray();
    int size = cmt.Model.Channels * cmt.Model.Height * cmt.Model.Width;
    SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
    def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
    IDataView data = ml.Data.LoadFromEnumerable(features.Select(f => new Row { Features = f }), def);
    IDataView scored = model.Transform(data);

    var scores = new Dictionary<string, List<float[]>>();
    var labels = new Dictionary<string, List<uint>>();
    var cols = cmt.Tasks.Select(t => (t.Name, Score: scored.Schema[ControllableMultiTaskTransformer.ScoreColumnName(t.Name)],
        Label: scored.Schema[ControllableMultiTaskTransformer.PredictedLabelColumnName(t.Name)])).ToArray();
    using (DataViewRowCursor cursor = scored.GetRowCursor(cols.SelectMany(c => new[] { c.Score, c.Label })))
    {
        var getters = cols.Select(c => (c.Name, S: cursor.GetGetter<VBuffer<float>>(c.Score), L: cursor.GetGetter<uint>(c.Label))).ToArray();
        foreach (var c in cols) { scores[c.Name] = new(); labels[c.Name] = new(); }
        VBuffer<float> v = default;
        uint key = 0;
        while (cursor.MoveNext())
            foreach (var g in getters)
            {
                g.S(ref v);
                scores[g.Name].Add(v.DenseValues().ToArray());
                g.L(ref key);
                labels[g.Name].Add(key);
            }
    }
    var output = new
    {
        Budget = cmt.Budget.ToString(),
        Configuration = cmt.Configuration.ToString(),
        cmt.ConfigurationMacs,
        TaskWeights = cmt.TaskWeights,
        // A serving process: loading and predicting must leave the allocator alone (docs/runtime.md).
        MallocTuningApplied = MLNetSlim.Runtime.TorchRuntime.AppliedMallocTuning,
        Scores = scores,
        Labels = labels,
    };
    Console.WriteLine(JsonSerializer.Serialize(output));
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine($"{e.GetType().FullName}: {e.Message}");
    return 1;
}

/// <summary>One input row.</summary>
internal sealed class Row
{
    /// <summary>The image, C*H*W floats.</summary>
    public float[] Features { get; set; } = Array.Empty<float>();
}
