using System.Diagnostics;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Datasets;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Training;
using Spectre.Console;
using static MLNetSlim.Benchmarks.ReportFiles;

namespace MLNetSlim.Benchmarks;

/// <summary>Settings of the soak run.</summary>
/// <param name="Predictions">Single-row predictions after the warm-up (default 50,000).</param>
/// <param name="WarmupPredictions">Predictions in the warm-up.</param>
/// <param name="Epochs">Training epochs, once in the warm-up and once in the soak.</param>
/// <param name="TrainCount">Training images.</param>
/// <param name="Synthetic">Random images instead of Multi-(Fashion+MNIST) (runs anywhere; figures are about memory only).</param>
/// <param name="Data">Data root or null.</param>
/// <param name="Out">Output folder.</param>
/// <param name="MaxGrowthPercent">Exit code 1 when RSS or managed heap grows more than this from warm-up to the end.</param>
/// <param name="Seed">Seed.</param>
public sealed record SoakSettings(int Predictions, int WarmupPredictions, int Epochs, int TrainCount, bool Synthetic, string? Data, string Out,
    double MaxGrowthPercent, int Seed);

/// <summary>One memory reading.</summary>
/// <param name="ManagedBytes">GC.GetTotalMemory(forceFullCollection: true).</param>
/// <param name="RssBytes">Resident set size of the process.</param>
public sealed record MemorySample(
    [property: JsonPropertyName("managed_bytes")] long ManagedBytes,
    [property: JsonPropertyName("rss_bytes")] long RssBytes);

/// <summary>The soak report (soak.json).</summary>
public sealed record SoakReport(
    [property: JsonPropertyName("machine")] MachineInfo Machine,
    [property: JsonPropertyName("settings")] SoakSettings Settings,
    [property: JsonPropertyName("warmup")] MemorySample Warmup,
    [property: JsonPropertyName("end")] MemorySample End,
    [property: JsonPropertyName("rss_growth_percent")] double RssGrowthPercent,
    [property: JsonPropertyName("managed_growth_percent")] double ManagedGrowthPercent,
    [property: JsonPropertyName("predictions")] int Predictions,
    [property: JsonPropertyName("training_epochs")] int TrainingEpochs,
    [property: JsonPropertyName("load_average_end")] string? LoadAverageEnd,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("passed")] bool Passed);

/// <summary>
/// Soak (issue 14, item 7): a warm-up (training, predictions, training again), a memory reading, then
/// 50,000 single-row predictions through an ML.NET PredictionEngine (the budget changing every 250) and the same
/// training again, and a second reading. Managed heap and process RSS must not grow by more than 5 %.
/// </summary>
public static class SoakCommand
{
    private sealed class Row
    {
        public float[] Features { get; set; } = [];
    }

    private sealed class Output
    {
        [ColumnName("Score.digit")] public float[] Digit { get; set; } = [];
    }

    /// <summary>Predictions between budget changes: the warm-up (default 2,000) visits every configuration twice.</summary>
    private const int BudgetEvery = 250;

    /// <summary>Runs the soak and writes soak.json and soak.md; returns 1 when the growth exceeds the limit.</summary>
    public static int Run(string[] args, SoakSettings s)
    {
        var total = Stopwatch.StartNew();
        MachineInfo machine = MachineInfo.Current(args);
        MultiTaskDataset train = s.Synthetic ? Synthetic(s.TrainCount, s.Seed) : MultiFashionMnist.Load(DataSplit.Train, s.TrainCount, s.Seed, s.Data, s.Data);
        var ml = new MLContext(s.Seed).AddMLNetSlim();
        int size = train.ImageSize;
        Row[] rows = Enumerable.Range(0, Math.Min(train.Count, 512)).Select(i => new Row { Features = train.Images.AsSpan(i * size, size).ToArray() }).ToArray();
        SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        double[] budgets = [1.0, 0.7, 0.5, 0.35];

        ControllableMultiTaskModel TrainOnce(string phase)
        {
            Log($"{phase}: training {s.Epochs} epoch(s) on {train.Count} images ...");
            return ModelTrainer.Train(train, null, new ModelOptions { Training = { Epochs = s.Epochs, Seed = s.Seed, BatchSize = 64 } });
        }

        void Predict(ControllableMultiTaskTransformer transformer, int count, string phase)
        {
            Log($"{phase}: {count} single-row predictions ...");
            using PredictionEngine<Row, Output> engine = ml.Model.CreatePredictionEngine<Row, Output>(transformer, inputSchemaDefinition: def);
            var output = new Output();
            for (int i = 0; i < count; i++)
            {
                if (i % BudgetEvery == 0) transformer.Budget = Budget.FractionOfFull(budgets[i / BudgetEvery % budgets.Length]);
                engine.Predict(rows[i % rows.Length], ref output);
            }
        }

        // Warm-up: one cycle of everything the soak repeats, with the same live objects: a training (its model serves
        // the predictions), predictions at every budget, and a second training while the first model is alive (so the
        // allocator has seen the peak of "a model serving + a training running"; glibc keeps freed memory, see
        // docs/runtime.md, so a first-time peak would otherwise read as growth).
        using ControllableMultiTaskModel first = TrainOnce("warm-up");
        var transformer = new ControllableMultiTaskTransformer(first);
        Predict(transformer, s.WarmupPredictions, "warm-up");
        using (ControllableMultiTaskModel again = TrainOnce("warm-up")) { }
        MemorySample warm = Sample();
        Log($"warm-up: managed {Mb(warm.ManagedBytes)}, RSS {Mb(warm.RssBytes)}");

        // Soak: many predictions, then the same training again.
        Predict(transformer, s.Predictions, "soak");
        using (ControllableMultiTaskModel second = TrainOnce("soak")) { }
        MemorySample end = Sample();
        Log($"end: managed {Mb(end.ManagedBytes)}, RSS {Mb(end.RssBytes)}");

        double rss = 100.0 * (end.RssBytes - warm.RssBytes) / warm.RssBytes;
        double managed = 100.0 * (end.ManagedBytes - warm.ManagedBytes) / warm.ManagedBytes;
        bool passed = rss < s.MaxGrowthPercent && managed < s.MaxGrowthPercent;
        var report = new SoakReport(machine, s, warm, end, Math.Round(rss, 2), Math.Round(managed, 2), s.Predictions, s.Epochs,
            MachineInfo.CurrentLoadAverage(), Math.Round(total.Elapsed.TotalSeconds, 1), passed);
        (string json, string md) = Write(s.Out, "soak", report, Markdown(report));
        Log($"RSS growth {F(rss)} %, managed heap growth {F(managed)} % (limit {F(s.MaxGrowthPercent)} %): {(passed ? "passed" : "FAILED")}; wrote {json} and {md}");
        return passed ? 0 : 1;
    }

    private static MemorySample Sample()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long managed = GC.GetTotalMemory(forceFullCollection: true);
        using Process p = Process.GetCurrentProcess();
        p.Refresh();
        return new MemorySample(managed, p.WorkingSet64);
    }

    /// <summary>Random two-task 28x28 images whose labels depend on the pixels (so training has something to learn).</summary>
    private static MultiTaskDataset Synthetic(int n, int seed)
    {
        var rng = new Random(seed);
        const int side = 28, size = side * side;
        var images = new float[n * size];
        var digit = new int[n];
        var fashion = new int[n];
        for (int i = 0; i < n; i++)
        {
            digit[i] = rng.Next(10);
            fashion[i] = rng.Next(10);
            for (int p = 0; p < size; p++)
                images[i * size + p] = (float)rng.NextDouble() * 0.3f + (p % 10 == digit[i] ? 0.5f : 0) + (p / side % 10 == fashion[i] ? 0.2f : 0);
        }
        string[] names = Enumerable.Range(0, 10).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        return new MultiTaskDataset(images, 1, side, side,
            [new TaskDefinition("digit", TaskKind.Classification, 10, names), new TaskDefinition("fashion", TaskKind.Classification, 10, names)],
            [digit, fashion]);
    }

    private static string Mb(long bytes) => F(bytes / 1048576.0, "0.0") + " MiB";

    private static string Markdown(SoakReport r) => new StringBuilder()
        .AppendLine("# Soak: memory over many predictions and a second training")
        .AppendLine()
        .Append(r.Machine.ToMarkdown())
        .AppendLine($"- Load average at the end: {r.LoadAverageEnd ?? "n/a"}")
        .AppendLine($"- Data: {(r.Settings.Synthetic ? "synthetic 28x28 images" : "Multi-(Fashion+MNIST)")}, {r.Settings.TrainCount} training images; " +
                    $"trainings of {r.Settings.Epochs} epoch(s): two in the warm-up, one in the soak; {r.Settings.WarmupPredictions} warm-up predictions")
        .AppendLine($"- Duration: {F(r.Seconds, "0.0")} s")
        .AppendLine()
        .AppendLine("| | managed heap | process RSS |")
        .AppendLine("|---|---|---|")
        .AppendLine($"| after warm-up (training, predictions, training again) | {Mb(r.Warmup.ManagedBytes)} | {Mb(r.Warmup.RssBytes)} |")
        .AppendLine($"| after {r.Predictions:N0} predictions + {r.TrainingEpochs} more training epochs | {Mb(r.End.ManagedBytes)} | {Mb(r.End.RssBytes)} |")
        .AppendLine($"| growth | {F(r.ManagedGrowthPercent)} % | {F(r.RssGrowthPercent)} % |")
        .AppendLine()
        .AppendLine($"Limit: {F(r.Settings.MaxGrowthPercent)} % for both: **{(r.Passed ? "passed" : "FAILED")}**. Predictions go one row at a time through an " +
                    "ML.NET PredictionEngine, with the budget changing every 250 predictions (four configurations, all visited in the warm-up).")
        .ToString();

    private static void Log(string message) =>
        AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss}[/] {message}");
}
