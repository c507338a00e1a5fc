using System.Diagnostics;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Network;
using Spectre.Console;
using static MLNetSlim.Benchmarks.ReportFiles;
using static TorchSharp.torch;
using MLNetSlim.Architecture;
using MLNetSlim.Datasets;
using MLNetSlim.Model;
using MLNetSlim.Training;

namespace MLNetSlim.Benchmarks;

/// <summary>Settings of an `mlnet` run.</summary>
/// <param name="TrainCount">Train images for the quickly trained model (ignored with --model).</param>
/// <param name="Epochs">Epochs of the quickly trained model.</param>
/// <param name="Rows">Test rows pushed through ML.NET.</param>
/// <param name="Model">An ML.NET model zip holding a ControllableMultiTaskTransformer, or null to train one.</param>
/// <param name="Save">Where to save the trained transformer as an ML.NET zip, or null.</param>
/// <param name="Budget">Budget as a fraction of the full MACs; picks the one configuration measured.</param>
/// <param name="BatchSize">Transformer batch size, or null to keep the transformer's.</param>
/// <param name="SingleRowCalls">Timed calls per single-row series (interleaved).</param>
/// <param name="Rounds">Timed passes over all rows per throughput series (interleaved).</param>
/// <param name="Data">Data root, or null.</param>
/// <param name="Out">Output folder.</param>
/// <param name="Seed">Seed.</param>
public sealed record MLNetSettings(int TrainCount, int Epochs, int Rows, string? Model, string? Save, double Budget, int? BatchSize,
    int SingleRowCalls, int Rounds, string? Data, string Out, int Seed);

/// <summary>Single-row latency: PredictionEngine vs raw forward at batch 1.</summary>
/// <param name="PredictionEngineMs">Median ms of PredictionEngine.Predict (all Score columns read).</param>
/// <param name="RawForwardMs">Median ms of MultiTaskNetwork.forward on a ready (1, C, H, W) tensor, no_grad.</param>
/// <param name="ModelPredictMs">Median ms of IMultiTaskModel.Predict(1 image): the library call the transformer makes
/// (tensor from floats, forward, softmax, copy out) — the breakdown between the two.</param>
/// <param name="Ratio">PredictionEngineMs / RawForwardMs (target &lt;= 1.2).</param>
/// <param name="MeetsTarget">Ratio &lt;= 1.2.</param>
public sealed record SingleRowResult(double PredictionEngineMs, double RawForwardMs, double ModelPredictMs, double Ratio, bool MeetsTarget);

/// <summary>Throughput: ML.NET Transform + cursor vs raw batched forward.</summary>
/// <param name="BatchSize">The transformer's batch size (rows per forward pass) used by both.</param>
/// <param name="TransformRowsPerSecond">Rows/s iterating the transformed IDataView with a cursor reading every Score
/// column (median pass).</param>
/// <param name="RawForwardRowsPerSecond">Rows/s of MultiTaskNetwork.forward over ready tensors of BatchSize rows.</param>
/// <param name="ModelPredictRowsPerSecond">Rows/s of IMultiTaskModel.Predict over the same batches (breakdown).</param>
/// <param name="Ratio">TransformRowsPerSecond / RawForwardRowsPerSecond (target &gt;= 0.9).</param>
/// <param name="MeetsTarget">Ratio &gt;= 0.9.</param>
public sealed record ThroughputResult(int BatchSize, double TransformRowsPerSecond, double RawForwardRowsPerSecond, double ModelPredictRowsPerSecond,
    double Ratio, bool MeetsTarget);

/// <summary>The `mlnet` report (mlnet.json).</summary>
public sealed record MLNetReport(MachineInfo Machine, MLNetSettings Settings, string ModelSource, string Configuration, long ConfigurationMacs,
    long FullMacs, int Rows, SingleRowResult SingleRow, ThroughputResult Throughput, double TotalSeconds);

/// <summary>
/// `mlnet`: the cost of the ML.NET layer. For one configuration, in one process, interleaved: PredictionEngine single-row
/// latency vs a raw TorchSharp forward at batch 1, and Transform + cursor throughput vs raw batched forward at the
/// transformer's batch size.
/// </summary>
public static class MLNetCommand
{
    /// <summary>Input row of the prediction engine; the column name and size come from a schema definition.</summary>
    public sealed class InputRow
    {
        /// <summary>Pixels.</summary>
        public float[] Features { get; set; } = [];
    }

    /// <summary>Output row: up to 8 task score columns, bound by a schema definition.</summary>
    public sealed class OutputRow
    {
        /// <summary>Scores of task 0.</summary>
        public float[] S0 { get; set; } = [];
        /// <summary>Scores of task 1.</summary>
        public float[] S1 { get; set; } = [];
        /// <summary>Scores of task 2.</summary>
        public float[] S2 { get; set; } = [];
        /// <summary>Scores of task 3.</summary>
        public float[] S3 { get; set; } = [];
        /// <summary>Scores of task 4.</summary>
        public float[] S4 { get; set; } = [];
        /// <summary>Scores of task 5.</summary>
        public float[] S5 { get; set; } = [];
        /// <summary>Scores of task 6.</summary>
        public float[] S6 { get; set; } = [];
        /// <summary>Scores of task 7.</summary>
        public float[] S7 { get; set; } = [];
    }

    /// <summary>Runs the benchmark and writes mlnet.json and mlnet.md.</summary>
    public static int Run(string[] args, MLNetSettings s)
    {
        var total = Stopwatch.StartNew();
        MachineInfo machine = MachineInfo.Current(args);
        var ml = new MLContext(s.Seed).AddMLNetSlim();
        MultiTaskDataset data = MultiFashionMnist.Load(DataSplit.Test, s.Rows, s.Seed, s.Data, s.Data);

        ControllableMultiTaskTransformer transformer;
        string source;
        ControllableMultiTaskModel? owned = null;
        if (s.Model is not null)
        {
            ITransformer loaded = ml.Model.LoadChecked(s.Model, out _);
            transformer = loaded.GetControllableMultiTaskTransformer();
            source = $"loaded from {s.Model}";
        }
        else
        {
            Log($"training a small model: {s.TrainCount} train images, {s.Epochs} epoch(s) ...");
            MultiTaskDataset train = MultiFashionMnist.Load(DataSplit.Train, s.TrainCount, s.Seed, s.Data, s.Data);
            var clock = Stopwatch.StartNew();
            owned = ModelTrainer.Train(train, null, new ModelOptions { Training = { Epochs = s.Epochs, Seed = s.Seed } });
            transformer = new ControllableMultiTaskTransformer(owned);
            source = $"trained here: {s.TrainCount} Multi-(Fashion+MNIST) train images, {s.Epochs} epoch(s), {clock.Elapsed.TotalSeconds:0.0} s";
            Log(source);
        }
        var model = transformer.Model as ControllableMultiTaskModel
            ?? throw new ArgumentException($"The raw comparison needs a {nameof(ControllableMultiTaskModel)}; the zip holds a {transformer.Model.GetType().Name}.");
        if (model.Channels * model.Height * model.Width != data.ImageSize)
            throw new ArgumentException($"The model takes ({model.Channels}, {model.Height}, {model.Width}) images; the benchmark data are ({data.Channels}, {data.Height}, {data.Width}).");
        if (model.Tasks.Count > 8) throw new ArgumentException("At most 8 tasks are supported by this benchmark's output row.");
        transformer.Budget = Budget.FractionOfFull(s.Budget);
        if (s.BatchSize is int b) transformer.BatchSize = b;
        WidthConfiguration config = transformer.Configuration;
        Log($"configuration {config} ({M(transformer.ConfigurationMacs)} of {M(transformer.FullMacs)}), batch size {transformer.BatchSize}, {data.Count} rows");

        // ML.NET side: rows, schema, data view, prediction engine.
        int size = data.ImageSize;
        InputRow[] rows = Enumerable.Range(0, data.Count).Select(i => new InputRow { Features = data.Images.AsSpan(i * size, size).ToArray() }).ToArray();
        SchemaDefinition inDef = SchemaDefinition.Create(typeof(InputRow));
        inDef["Features"].ColumnName = transformer.FeatureColumnName;
        inDef[transformer.FeatureColumnName].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        SchemaDefinition outDef = SchemaDefinition.Create(typeof(OutputRow));
        outDef.RemoveAll(c => int.Parse(c.MemberName[1..], System.Globalization.CultureInfo.InvariantCulture) >= model.Tasks.Count);
        for (int t = 0; t < model.Tasks.Count; t++)
            outDef["S" + t].ColumnName = ControllableMultiTaskTransformer.ScoreColumnName(model.Tasks[t].Name);
        IDataView view = ml.Data.LoadFromEnumerable(rows, inDef);
        if (s.Save is not null && owned is not null)
        {
            ml.Model.Save(transformer, view.Schema, s.Save);
            Log($"saved the transformer to {s.Save}");
        }
        using PredictionEngine<InputRow, OutputRow> engine = ml.Model.CreatePredictionEngine<InputRow, OutputRow>(transformer,
            inputSchemaDefinition: inDef, outputSchemaDefinition: outDef);

        // Raw side: ready tensors.
        var singles = Enumerable.Range(0, Math.Min(64, data.Count))
            .Select(i => tensor(data.Images.AsSpan(i * size, size).ToArray(), [1, data.Channels, data.Height, data.Width])).ToArray();
        int batch = transformer.BatchSize;
        var batches = new List<(Tensor X, int Start, int Count)>();
        for (int start = 0; start < data.Count; start += batch)
        {
            int count = Math.Min(batch, data.Count - start);
            batches.Add((tensor(data.Images.AsSpan(start * size, count * size).ToArray(), [count, data.Channels, data.Height, data.Width]), start, count));
        }

        try
        {
            using IDisposable noGrad = no_grad();
            // 1. Single row, interleaved call by call.
            Log($"single row: {s.SingleRowCalls} interleaved calls each of PredictionEngine, raw forward, model.Predict ...");
            var output = new OutputRow();
            int pi = 0, ri = 0, mi = 0;
            List<double>[] one = Timing.Interleaved(
            [
                () => engine.Predict(rows[pi++ % rows.Length], ref output),
                Forward(model.Network, () => singles[ri++ % singles.Length], config),
                () => model.Predict(data.Images.AsSpan((mi++ % data.Count) * size, size), 1, config),
            ], s.SingleRowCalls, 50);
            double pe = Timing.Median(one[0]), raw = Timing.Median(one[1]), predict = Timing.Median(one[2]);
            var singleRow = new SingleRowResult(pe, raw, predict, pe / raw, pe / raw <= 1.2);

            // 2. Throughput, interleaved pass by pass.
            Log($"throughput: {s.Rounds} interleaved passes over {data.Count} rows each of Transform+cursor, raw forward, model.Predict ...");
            DataViewSchema.Column[] scoreColumns = model.Tasks.Select(t => transformer.Transform(view).Schema[ControllableMultiTaskTransformer.ScoreColumnName(t.Name)]).ToArray();
            long counted = 0;
            void TransformPass()
            {
                IDataView transformed = transformer.Transform(view);
                DataViewSchema.Column[] cols = scoreColumns.Select(c => transformed.Schema[c.Name]).ToArray();
                using DataViewRowCursor cursor = transformed.GetRowCursor(cols);
                ValueGetter<VBuffer<float>>[] getters = cols.Select(c => cursor.GetGetter<VBuffer<float>>(c)).ToArray();
                VBuffer<float> value = default;
                long n = 0;
                while (cursor.MoveNext())
                {
                    foreach (ValueGetter<VBuffer<float>> g in getters) g(ref value);
                    n++;
                }
                counted = n;
            }
            void RawPass()
            {
                foreach ((Tensor x, _, _) in batches)
                {
                    using var scope = NewDisposeScope();
                    model.Network.forward(x, config).Dispose();
                }
            }
            void PredictPass()
            {
                foreach ((_, int start, int count) in batches)
                    model.Predict(data.Images.AsSpan(start * size, count * size), count, config);
            }
            List<double>[] passes = Timing.Interleaved([TransformPass, RawPass, PredictPass], s.Rounds, 1);
            if (counted != data.Count) throw new InvalidOperationException($"The cursor returned {counted} rows; expected {data.Count}.");
            double PerSecond(List<double> ms) => data.Count / (Timing.Median(ms) / 1000);
            double tr = PerSecond(passes[0]), rawTput = PerSecond(passes[1]), predTput = PerSecond(passes[2]);
            var throughput = new ThroughputResult(batch, tr, rawTput, predTput, tr / rawTput, tr / rawTput >= 0.9);

            var report = new MLNetReport(machine, s, source, config.ToString(), transformer.ConfigurationMacs, transformer.FullMacs, data.Count,
                singleRow, throughput, total.Elapsed.TotalSeconds);
            Print(report);
            (string json, string md) = Write(s.Out, "mlnet", report, Markdown(report));
            Log($"wrote {json} and {md}; total {report.TotalSeconds:0.0} s");
            return 0;
        }
        finally
        {
            foreach (Tensor t in singles) t.Dispose();
            foreach ((Tensor x, _, _) in batches) x.Dispose();
            owned?.Dispose();
        }
    }

    private static Action Forward(MultiTaskNetwork network, Func<Tensor> input, WidthConfiguration configuration) => () =>
    {
        Tensor x = input();
        using var scope = NewDisposeScope();
        network.forward(x, configuration).Dispose();
    };

    private static void Log(string message) =>
        AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss}[/] {message}");

    private static IEnumerable<string> Lines(MLNetReport r)
    {
        SingleRowResult a = r.SingleRow;
        ThroughputResult b = r.Throughput;
        yield return $"- Single row: PredictionEngine {F(a.PredictionEngineMs, "0.0000")} ms vs raw forward (batch 1) {F(a.RawForwardMs, "0.0000")} ms: " +
            $"ratio {F(a.Ratio, "0.000")}x (target <= 1.2x: {(a.MeetsTarget ? "met" : "NOT met")}); model.Predict(1 image) {F(a.ModelPredictMs, "0.0000")} ms";
        yield return $"- Throughput at batch {b.BatchSize}: Transform + cursor {F(b.TransformRowsPerSecond, "0")} rows/s vs raw batched forward {F(b.RawForwardRowsPerSecond, "0")} rows/s: " +
            $"ratio {F(b.Ratio, "0.000")}x (target >= 0.9x: {(b.MeetsTarget ? "met" : "NOT met")}); model.Predict batched {F(b.ModelPredictRowsPerSecond, "0")} rows/s";
    }

    private static void Print(MLNetReport r)
    {
        foreach (string line in Lines(r)) AnsiConsole.WriteLine(line);
    }

    private static string Markdown(MLNetReport r)
    {
        MLNetSettings s = r.Settings;
        var md = new StringBuilder()
            .AppendLine("# ML.NET layer overhead (PredictionEngine and Transform vs raw TorchSharp)")
            .AppendLine()
            .Append(r.Machine.ToMarkdown())
            .AppendLine()
            .AppendLine($"Model: {r.ModelSource}. Configuration `{r.Configuration}` (budget {F(s.Budget, "0.###")} of full MACs): {M(r.ConfigurationMacs)} of {M(r.FullMacs)}. {r.Rows} Multi-(Fashion+MNIST) test rows.")
            .AppendLine()
            .AppendLine($"Single row: {s.SingleRowCalls} calls of each series after 50 warm-up calls, interleaved call by call; medians. " +
                "Raw forward = `MultiTaskNetwork.forward` on a ready (1, C, H, W) tensor under `no_grad` (no softmax, no copy out). " +
                "`model.Predict` = the library call the transformer makes for each row (tensor from floats, forward, softmax, copy out).")
            .AppendLine()
            .AppendLine($"Throughput: {s.Rounds} passes over all rows of each series after one warm-up pass, interleaved pass by pass; median pass. " +
                "Transform = `transformer.Transform(view)` then a row cursor reading every `Score.<task>` column. Raw = `forward` over ready tensors of the transformer's batch size.")
            .AppendLine()
            .AppendLine("| measure | ML.NET | raw forward | model.Predict | ratio ML.NET / raw | target |")
            .AppendLine("|---|---:|---:|---:|---:|---|")
            .AppendLine($"| single row, ms (median) | {F(r.SingleRow.PredictionEngineMs, "0.0000")} | {F(r.SingleRow.RawForwardMs, "0.0000")} | {F(r.SingleRow.ModelPredictMs, "0.0000")} | {F(r.SingleRow.Ratio, "0.000")}x | <= 1.2x: {(r.SingleRow.MeetsTarget ? "met" : "NOT met")} |")
            .AppendLine($"| batch {r.Throughput.BatchSize}, rows/s | {F(r.Throughput.TransformRowsPerSecond, "0")} | {F(r.Throughput.RawForwardRowsPerSecond, "0")} | {F(r.Throughput.ModelPredictRowsPerSecond, "0")} | {F(r.Throughput.Ratio, "0.000")}x | >= 0.9x: {(r.Throughput.MeetsTarget ? "met" : "NOT met")} |")
            .AppendLine()
            .AppendLine($"Whole run: {F(r.TotalSeconds, "0.0")} s.");
        return md.ToString();
    }
}
