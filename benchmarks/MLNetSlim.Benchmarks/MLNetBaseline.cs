using System.Diagnostics;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Data;

namespace MLNetSlim.Benchmarks;

/// <summary>Result of an ML.NET built-in trainer on one task.</summary>
/// <param name="Task">Task name.</param>
/// <param name="Trainer">"SdcaMaximumEntropy" or "LightGbm".</param>
/// <param name="Accuracy">Test accuracy (micro), in [0, 1].</param>
/// <param name="TrainWallSeconds">Wall time of Fit (including building the IDataView pipeline).</param>
/// <param name="PredictionEngineLatencyB1Ms">Median ms of one PredictionEngine.Predict call.</param>
public sealed record MLNetBaselineResult(string Task, string Trainer, double Accuracy, double TrainWallSeconds, double PredictionEngineLatencyB1Ms);

/// <summary>ML.NET's built-in multiclass trainers on the raw pixels (C*H*W floats) of one task.</summary>
public static class MLNetBaseline
{
    /// <summary>Trainer names accepted by <see cref="Run"/>.</summary>
    public static readonly string[] Trainers = ["sdca", "lightgbm"];

    /// <summary>One image and its label (key, 1-based).</summary>
    public sealed class PixelRow
    {
        /// <summary>The pixels.</summary>
        public float[] Features { get; set; } = [];

        /// <summary>The class index, 0-based. With a key column type, LoadFromEnumerable stores member value v as key v + 1
        /// (measured with ML.NET 5.0.1: members 1..10 of a Key&lt;UInt32, 10&gt; column read back as keys 2..10 and 0 = missing).</summary>
        public uint Label { get; set; }
    }

    /// <summary>What the prediction engine returns.</summary>
    public sealed class PixelPrediction
    {
        /// <summary>Arg-max class key.</summary>
        public uint PredictedLabel { get; set; }

        /// <summary>Class scores.</summary>
        public float[] Score { get; set; } = [];
    }

    /// <summary>Trains <paramref name="trainer"/> on task <paramref name="taskIndex"/> of <paramref name="train"/>, evaluates it
    /// on <paramref name="test"/> and times single-row prediction.</summary>
    public static MLNetBaselineResult Run(MultiTaskDataset train, MultiTaskDataset test, int taskIndex, string trainer, int seed, int latencyCalls)
    {
        var ml = new MLContext(seed);
        SchemaDefinition schema = Schema(train.ImageSize, train.Tasks[taskIndex].NumClasses);
        IDataView trainView = ml.Data.LoadFromEnumerable(Rows(train, taskIndex), schema);
        IDataView testView = ml.Data.LoadFromEnumerable(Rows(test, taskIndex), schema);
        IEstimator<ITransformer> estimator = trainer switch
        {
            "sdca" => ml.MulticlassClassification.Trainers.SdcaMaximumEntropy("Label", "Features"),
            "lightgbm" => ml.MulticlassClassification.Trainers.LightGbm("Label", "Features"),
            _ => throw new ArgumentException($"Unknown ML.NET trainer '{trainer}'; expected one of {string.Join(", ", Trainers)}."),
        };
        var clock = Stopwatch.StartNew();
        ITransformer model = estimator.Fit(trainView);
        double trainSeconds = clock.Elapsed.TotalSeconds;

        // Accuracy counted here over every test row (plain top-1 accuracy, as for the networks).
        IDataView scored = model.Transform(testView);
        long correct = 0, total = 0;
        using (DataViewRowCursor cursor = scored.GetRowCursor([scored.Schema["Label"], scored.Schema["PredictedLabel"]]))
        {
            ValueGetter<uint> label = cursor.GetGetter<uint>(scored.Schema["Label"]), predicted = cursor.GetGetter<uint>(scored.Schema["PredictedLabel"]);
            uint y = 0, p = 0;
            while (cursor.MoveNext())
            {
                label(ref y);
                predicted(ref p);
                if (y == p) correct++;
                total++;
            }
        }
        if (total != test.Count) throw new InvalidOperationException($"Scored {total} test rows; expected {test.Count}.");
        PixelRow[] rows = Rows(test, taskIndex).Take(256).ToArray();
        using PredictionEngine<PixelRow, PixelPrediction> engine = ml.Model.CreatePredictionEngine<PixelRow, PixelPrediction>(model, inputSchemaDefinition: schema);
        int next = 0;
        var prediction = new PixelPrediction();
        List<double> samples = Timing.Interleaved([() => engine.Predict(rows[next++ % rows.Length], ref prediction)], latencyCalls, 20)[0];
        return new MLNetBaselineResult(train.Tasks[taskIndex].Name, trainer == "sdca" ? "SdcaMaximumEntropy" : "LightGbm",
            (double)correct / total, trainSeconds, Timing.Median(samples));
    }

    /// <summary>Features as Vector&lt;Single, size&gt;, Label as Key&lt;UInt32, classes&gt;.</summary>
    public static SchemaDefinition Schema(int size, int classes)
    {
        SchemaDefinition def = SchemaDefinition.Create(typeof(PixelRow));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        def["Label"].ColumnType = new KeyDataViewType(typeof(uint), classes);
        return def;
    }

    /// <summary>The rows of one task, materialised once (trainers enumerate the data several times).</summary>
    public static PixelRow[] Rows(MultiTaskDataset data, int taskIndex)
    {
        int size = data.ImageSize;
        var rows = new PixelRow[data.Count];
        for (int i = 0; i < rows.Length; i++)
            rows[i] = new PixelRow { Features = data.Images.AsSpan(i * size, size).ToArray(), Label = (uint)data.Labels[taskIndex][i] };
        return rows;
    }
}
