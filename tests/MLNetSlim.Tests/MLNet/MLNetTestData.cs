using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Data;
using MLNetSlim.Training;
using MLNetSlim.MLNet;
using MLNetSlim.Testing;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.Tests.MLNet;

/// <summary>Small synthetic image data and a fake trainer for the ML.NET layer tests.</summary>
internal static class MLNetTestData
{
    public const int C = 1, H = 3, W = 4, Size = C * H * W;

    public sealed class Row
    {
        public float[] Features { get; set; } = Array.Empty<float>();
        public string Shape { get; set; } = "";
        public string Size { get; set; } = "";
        public int Id { get; set; }
    }

    public static readonly string[] Shapes = { "circle", "square", "triangle" };
    public static readonly string[] Sizes = { "small", "large" };

    public static Row[] Rows(int n, int seed = 7)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(i => new Row
        {
            Features = Enumerable.Range(0, Size).Select(_ => (float)rng.NextDouble()).ToArray(),
            Shape = Shapes[i % 3],
            Size = Sizes[(i / 3) % 2],
            Id = i,
        }).ToArray();
    }

    public static IDataView Raw(MLContext ml, IEnumerable<Row> rows, int size = Size)
    {
        SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        return ml.Data.LoadFromEnumerable(rows, def);
    }

    /// <summary>Raw rows with both labels mapped to keys (key order = order of first appearance).</summary>
    public static IDataView Keyed(MLContext ml, IEnumerable<Row> rows)
    {
        IDataView raw = Raw(ml, rows);
        return ml.Transforms.Conversion.MapValueToKey("Shape").Append(ml.Transforms.Conversion.MapValueToKey("Size")).Fit(raw).Transform(raw);
    }

    public static ControllableMultiTaskEstimator.Options Options() => new()
    {
        Tasks = { new("Shape"), new("Size") },
        ImageChannels = C,
        ImageHeight = H,
        ImageWidth = W,
        Epochs = 1,
        ValidationFraction = 0.2,
        Seed = 3,
    };

    /// <summary>Records its inputs and returns a seeded linear model.</summary>
    public sealed class FakeTrainer
    {
        public MultiTaskDataset? Train, Validation;
        public ControllableMultiTaskEstimator.Options? Options;

        public IMultiTaskModel Run(MultiTaskDataset train, MultiTaskDataset? validation, ControllableMultiTaskEstimator.Options options,
            IProgress<TrainingProgress>? progress, CancellationToken ct)
        {
            Train = train;
            Validation = validation;
            Options = options;
            progress?.Report(new MLNetSlim.Training.TrainingProgress { Epoch = 1, Epochs = 1, Step = 1, TotalSteps = 1, IsEpochEnd = true, TaskLosses = new Dictionary<string, double> { ["a"] = 0.5 }, DistillationLoss = 0, ImagesPerSecond = 1, LearningRate = 0.001, Elapsed = TimeSpan.Zero });
            return new LinearMultiTaskModel(train.Channels, train.Height, train.Width, train.Tasks, new WidthSet(options.Widths), seed: 11);
        }
    }

    public static LinearMultiTaskModel TestModel() =>
        new(C, H, W, new[]
        {
            new TaskDefinition("Shape", TaskKind.Classification, 3, Shapes),
            new TaskDefinition("Size", TaskKind.Classification, 2, Sizes),
        }, WidthSet.Default, seed: 5);

    /// <summary>Reads Score.T and PredictedLabel.T of every row.</summary>
    public static (List<float[]> Scores, List<uint> Labels) Read(IDataView scored, string task)
    {
        DataViewSchema.Column s = scored.Schema[ControllableMultiTaskTransformer.ScoreColumnName(task)];
        DataViewSchema.Column l = scored.Schema[ControllableMultiTaskTransformer.PredictedLabelColumnName(task)];
        var scores = new List<float[]>();
        var labels = new List<uint>();
        using DataViewRowCursor cur = scored.GetRowCursor(new[] { s, l });
        ValueGetter<VBuffer<float>> gs = cur.GetGetter<VBuffer<float>>(s);
        ValueGetter<uint> gl = cur.GetGetter<uint>(l);
        VBuffer<float> v = default;
        uint k = 0;
        while (cur.MoveNext())
        {
            gs(ref v);
            gl(ref k);
            scores.Add(v.DenseValues().ToArray());
            labels.Add(k);
        }
        return (scores, labels);
    }

    public static int[] Bits(IEnumerable<float> xs) => xs.Select(BitConverter.SingleToInt32Bits).ToArray();
}
