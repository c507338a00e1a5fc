using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Training;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.Tests.Integrity;

/// <summary>A real (TorchSharp) model small enough to save, damage and reload hundreds of times in a test.</summary>
internal static class TinyModel
{
    public const int C = 1, H = 8, W = 8, Size = C * H * W;
    public static readonly string[] Shapes = { "circle", "square", "triangle" };
    public static readonly string[] Sizes = { "small", "large" };

    public sealed class Row
    {
        public float[] Features { get; set; } = Array.Empty<float>();
        public string Shape { get; set; } = "";
    }

    public static MultiTaskDataset Data(int n, int seed = 1)
    {
        var rng = new Random(seed);
        var images = new float[n * Size];
        var shape = new int[n];
        var size = new int[n];
        for (int i = 0; i < n; i++)
        {
            shape[i] = i % 3;
            size[i] = (i / 3) % 2;
            for (int p = 0; p < Size; p++) images[i * Size + p] = (float)rng.NextDouble() * 0.5f + (p % 3 == shape[i] ? 0.5f : 0) + size[i] * 0.1f;
        }
        TaskDefinition[] tasks =
        {
            new("Shape", TaskKind.Classification, 3, Shapes),
            new("Size", TaskKind.Classification, 2, Sizes),
        };
        return new MultiTaskDataset(images, C, H, W, tasks, new[] { shape, size });
    }

    public static ModelOptions Options(int seed = 1) => new()
    {
        Backbone = new BackboneOptions { StageChannels = [4, 8], StageDepths = [1, 1] },
        Widths = [0.5, 1.0],
        ValidationFraction = 0.25,
        Training = new TrainingOptions { Epochs = 1, BatchSize = 16, Seed = seed, PostStatisticsImages = 32, ProgressEverySteps = 1000 },
    };

    public static ControllableMultiTaskModel Train(int seed = 1) => ModelTrainer.Train(Data(64, seed), null, Options(seed));

    public static Row[] Rows(int n, int seed = 9)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(i => new Row
        {
            Features = Enumerable.Range(0, Size).Select(_ => (float)rng.NextDouble()).ToArray(),
            Shape = Shapes[i % 3],
        }).ToArray();
    }

    public static IDataView View(MLContext ml, IEnumerable<Row> rows)
    {
        SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, Size);
        return ml.Data.LoadFromEnumerable(rows, def);
    }

    /// <summary>A chain of an ML.NET transform (MapValueToKey) and the controllable transformer over <paramref name="model"/>.</summary>
    public static (ITransformer Chain, IDataView Data) Chain(MLContext ml, ControllableMultiTaskModel model)
    {
        IDataView data = View(ml, Rows(12));
        var t = new ControllableMultiTaskTransformer(model, "Features", Budget.FractionOfFull(0.6),
            new Dictionary<string, double> { ["Shape"] = 2, ["Size"] = 1 });
        ITransformer chain = ml.Transforms.Conversion.MapValueToKey("ShapeKey", "Shape").Fit(data).Append(t);
        return (chain, data);
    }

    /// <summary>Every score and label of every row, plus the control state and the key column: the model's observable behaviour.</summary>
    public static string Fingerprint(ITransformer model, IDataView data)
    {
        IDataView scored = model.Transform(data);
        var sb = new System.Text.StringBuilder();
        ControllableMultiTaskTransformer cmt = model as ControllableMultiTaskTransformer
            ?? ((IEnumerable<ITransformer>)model).OfType<ControllableMultiTaskTransformer>().Single();
        sb.Append(cmt.Budget).Append('|').Append(cmt.Configuration).Append('|')
          .Append(string.Join(",", cmt.TaskWeights.Select(p => $"{p.Key}={p.Value:R}"))).Append('|').Append(cmt.BatchSize).Append('\n');
        foreach (string task in new[] { "Shape", "Size" })
        {
            DataViewSchema.Column s = scored.Schema["Score." + task];
            DataViewSchema.Column l = scored.Schema["PredictedLabel." + task];
            using DataViewRowCursor cur = scored.GetRowCursor(scored.Schema);
            ValueGetter<VBuffer<float>> gs = cur.GetGetter<VBuffer<float>>(s);
            ValueGetter<uint> gl = cur.GetGetter<uint>(l);
            ValueGetter<uint>? gk = scored.Schema.GetColumnOrNull("ShapeKey") is DataViewSchema.Column k ? cur.GetGetter<uint>(k) : null;
            VBuffer<float> v = default;
            uint label = 0, key = 0;
            while (cur.MoveNext())
            {
                gs(ref v);
                gl(ref label);
                gk?.Invoke(ref key);
                foreach (float x in v.DenseValues()) sb.Append(BitConverter.SingleToInt32Bits(x)).Append(',');
                sb.Append(label).Append(':').Append(key).Append('\n');
            }
        }
        return sb.ToString();
    }
}
