using System.Globalization;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.Serving;

// Usage: MLNetSlim.ServingHost <bundle> <inputs.bin> <requests.json>
//   inputs.bin: int32 row count, int32 floats per row, then the rows' features (float32, little-endian).
//   requests.json: [{"Budget": 0.3, "Weights": [1, 0.2]}, ...] (fractions of full MACs; weights in task order).
// Prints JSON: per request the configuration, its MACs and every task's scores (Transform at SetControl's control),
// then the scores of one pass with per-row Budget / TaskWeights columns (row i takes request i mod count), and the
// names of the assemblies loaded in this process.
if (args.Length != 3)
{
    Console.Error.WriteLine("usage: MLNetSlim.ServingHost <bundle> <inputs.bin> <requests.json>");
    return 2;
}
using ServingMultiTaskModel model = ServingMultiTaskModel.Load(args[0], new ServingOptions { IntraOpThreads = 1 });
var slim = new ServingMultiTaskTransformer(model);
float[][] features;
using (var r = new BinaryReader(File.OpenRead(args[1])))
{
    int n = r.ReadInt32(), size = r.ReadInt32();
    features = Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, size).Select(_ => r.ReadSingle()).ToArray()).ToArray();
}
Request[] requests = JsonSerializer.Deserialize<Request[]>(File.ReadAllText(args[2]))
    ?? throw new InvalidDataException($"'{args[2]}' holds no requests.");
var ml = new MLContext(seed: 1);
int length = features[0].Length;

SchemaDefinition plainSchema = SchemaDefinition.Create(typeof(PlainRow));
plainSchema[nameof(PlainRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, length);
IDataView plain = ml.Data.LoadFromEnumerable(features.Select(f => new PlainRow { Features = f }), plainSchema);

Dictionary<string, float[]> Scores(IDataView scored) =>
    slim.Tasks.ToDictionary(t => t.Name, t => scored.GetColumn<float[]>(ServingMultiTaskTransformer.ScoreColumnPrefix + t.Name).SelectMany(v => v).ToArray());

var results = new List<object>();
foreach (Request q in requests)
{
    slim.SetControl(Budget.FractionOfFull(q.Budget), slim.Tasks.Select((t, i) => (t.Name, q.Weights[i])).ToDictionary(p => p.Name, p => p.Item2));
    results.Add(new { Configuration = slim.Configuration.ToString(), Macs = slim.ConfigurationMacs, Scores = Scores(slim.Transform(plain)) });
}

slim.SetControl(Budget.Full, null);
SchemaDefinition rowSchema = SchemaDefinition.Create(typeof(ControlledRow));
rowSchema[nameof(ControlledRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, length);
IDataView perRow = ml.Data.LoadFromEnumerable(features.Select((f, i) => new ControlledRow
{
    Features = f,
    Budget = (float)requests[i % requests.Length].Budget,
    TaskWeights = requests[i % requests.Length].Weights.Select(w => (float)w).ToArray(),
}), rowSchema);

Console.WriteLine(JsonSerializer.Serialize(new
{
    Results = results,
    PerRow = Scores(slim.Transform(perRow)),
    Assemblies = AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name).Order(StringComparer.Ordinal).ToArray(),
}));
return 0;

internal sealed class Request
{
    public double Budget { get; set; }

    public double[] Weights { get; set; } = [];
}

internal sealed class PlainRow
{
    public float[] Features { get; set; } = [];
}

internal sealed class ControlledRow
{
    public float[] Features { get; set; } = [];

    public float Budget { get; set; }

    public float[] TaskWeights { get; set; } = [];
}
