using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.Datasets;
using MLNetSlim.Evaluation;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Training;
using SkiaSharp;

namespace MLNetSlim.Demo;

/// <summary>Settings of the <c>nyud</c> and <c>pascal-context</c> commands (docs/benchmarks-paper.md).</summary>
/// <param name="Benchmark"><c>nyud</c> or <c>pascal-context</c>.</param>
/// <param name="Data">The <c>NYUD_MT</c> or <c>PASCAL_MT</c> folder (docs/data.md).</param>
/// <param name="Device">Torch device: cpu, cuda or cuda:N.</param>
/// <param name="Backbone">small or resnet.</param>
/// <param name="Epochs">Training epochs.</param>
/// <param name="BatchSize">Images per step.</param>
/// <param name="LearningRate">Peak learning rate.</param>
/// <param name="Height">Image and label-map height the images are resized to.</param>
/// <param name="Width">Image and label-map width.</param>
/// <param name="Seed">Training seed.</param>
/// <param name="PreferenceVectors">Dirichlet(0.2) preference vectors per budget for the controllability comparison.</param>
/// <param name="Out">Output folder (model.zip, report.json, report.md).</param>
/// <param name="ValidationFraction">Share of the training rows held out for the calibration table.</param>
/// <param name="SemsegClasses">PASCAL-Context only: 21 or 59 segmentation classes.</param>
public sealed record DenseBenchmarkSettings(string Benchmark, string Data, string Device, string Backbone, int Epochs, int BatchSize,
    double LearningRate, int Height, int Width, int Seed, int PreferenceVectors, string Out, double ValidationFraction = 0.1, int SemsegClasses = 21)
    : IBenchmarkTrainingSettings;

/// <summary>All metrics of every task at one configuration, on the val split.</summary>
public sealed record DenseConfigurationMetrics(string Name, string Configuration, long Macs, double FractionOfFull,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Metrics);

/// <summary>The report of the <c>nyud</c> and <c>pascal-context</c> commands.</summary>
internal sealed record DenseBenchmarkReport(string Benchmark, string Device, string Backbone, int Epochs, int BatchSize, double LearningRate,
    int Height, int Width, int TrainRows, int ValRows, IReadOnlyList<TaskSummary> Tasks, long FullMacs, long SmallestMacs,
    IReadOnlyList<DenseConfigurationMetrics> Configurations, ControllabilitySection Controllability, string Model);

/// <summary>
/// NYUD-v2 and PASCAL-Context with the product: the loader's lazy <see cref="IDataView"/> (image path and per-pixel label
/// columns), each image decoded and resized into <c>Features</c> (the layout of ML.NET's ExtractPixels), the controllable multi-task
/// estimator on every task of the benchmark; then the standard metrics per task (mIoU, RMSE, mean angular error,
/// F / max-F) on the val split at the full and the smallest configurations, the controllability comparison at budgets of
/// 30, 50 and 70 % (the demo's <see cref="Analyzer"/>), and the saved model.
/// </summary>
internal static class DenseBenchmark
{
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    /// <summary>The benchmark's tasks with its segmentation class count.</summary>
    public static IReadOnlyList<TaskDefinition> Tasks(DenseBenchmarkSettings s) => s.Benchmark switch
    {
        "nyud" => NyudV2.Tasks,
        "pascal-context" => PascalContext.Tasks.Select(t => t.Name == "semseg" ? new TaskDefinition("semseg", TaskKind.Segmentation, s.SemsegClasses) { IgnoreValue = 255 } : t).ToArray(),
        _ => throw new ArgumentException($"Unknown dense benchmark '{s.Benchmark}'; expected nyud or pascal-context.", nameof(s)),
    };

    private static IDataView Load(DenseBenchmarkSettings s, string split) => s.Benchmark == "nyud"
        ? NyudV2.LoadDataView(s.Data, split, s.Height, s.Width)
        : PascalContext.LoadDataView(s.Data, split, s.Height, s.Width, semsegClasses: s.SemsegClasses);

    /// <summary>ImagePath -> Features: (3, H, W) floats in [0, 1], planar R, G, B (the layout of ML.NET's
    /// <c>ExtractPixels(scaleImage: 1f / 255)</c>), the image resized to H x W (stretched, bilinear) like the label maps.
    /// The demo decodes with SkiaSharp itself: its plots bring SkiaSharp 3, which ML.NET's ImageAnalytics (built on
    /// SkiaSharp 2) cannot run on.</summary>
    public static IEstimator<ITransformer> Featurizer(MLContext ml, int height, int width)
    {
        SchemaDefinition input = SchemaDefinition.Create(typeof(ImagePathRow));
        SchemaDefinition output = SchemaDefinition.Create(typeof(ImageFeaturesRow));
        output[nameof(ImageFeaturesRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, 3, height, width);
        return ml.Transforms.CustomMapping<ImagePathRow, ImageFeaturesRow>((i, o) => o.Features = Pixels(i.ImagePath, height, width), null, input, output);
    }

    /// <summary>An image file as (3, H, W) floats in [0, 1].</summary>
    public static float[] Pixels(string path, int height, int width)
    {
        using SKBitmap decoded = SKBitmap.Decode(path)
            ?? throw new InvalidDataException($"Image '{path}' cannot be decoded; expected a JPEG or PNG file.");
        using SKBitmap resized = decoded.Resize(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKFilterMode.Linear))
            ?? throw new InvalidDataException($"Image '{path}' ({decoded.Width} x {decoded.Height}) cannot be resized to {width} x {height}.");
        int plane = height * width;
        var f = new float[3 * plane];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                SKColor c = resized.GetPixel(x, y);
                int p = y * width + x;
                (f[p], f[plane + p], f[2 * plane + p]) = (c.Red / 255f, c.Green / 255f, c.Blue / 255f);
            }
        return f;
    }

    /// <summary>Runs the benchmark; writes model.zip, report.json and report.md into <see cref="DenseBenchmarkSettings.Out"/>.</summary>
    public static DenseBenchmarkReport Run(DenseBenchmarkSettings s, Action<string> log, CancellationToken ct = default)
    {
        if (s.Height < 8 || s.Width < 8) throw new ArgumentException($"--height and --width must be at least 8 (the backbone downsamples by 8), got {s.Height} x {s.Width}.");
        Directory.CreateDirectory(s.Out);
        IReadOnlyList<TaskDefinition> tasks = Tasks(s);
        var ml = new MLContext(seed: s.Seed).AddMLNetSlim();
        IDataView train = Load(s, "train"), val = Load(s, "val");
        int trainRows = (int)(train.GetRowCount() ?? 0), valRows = (int)(val.GetRowCount() ?? 0);
        log($"{s.Benchmark}: {trainRows} training rows, {valRows} val rows, {s.Height} x {s.Width}; tasks {string.Join(", ", tasks.Select(t => $"{t.Name} ({t.Kind})"))}; " +
            $"device {s.Device}, backbone {s.Backbone}, {s.Epochs} epochs, batch {s.BatchSize}");

        ControllableMultiTaskEstimator.Options options = s.EstimatorOptions(s.Height, s.Width, ct);
        options.Progress = new ProgressSink(p => { if (p.IsEpochEnd) log(p.ToString()); });
        options.Tasks.AddRange(tasks.Select(t => new ControllableMultiTaskEstimator.TaskColumn(t.Name)
        {
            Kind = t.Kind,
            NumClasses = t.Kind == TaskKind.Segmentation ? t.NumClasses : null,
            IgnoreValue = t.IgnoreValue,
        }));
        // Lazily featurized: each image is decoded when the estimator's cursor reaches its row.
        IDataView trainFeatures = Featurizer(ml, s.Height, s.Width).Fit(train).Transform(train);
        ControllableMultiTaskTransformer transformer = ml.MulticlassClassification.Trainers.ControllableMultiTask(options).Fit(trainFeatures);
        ControllableMultiTaskModel model = (ControllableMultiTaskModel)transformer.Model;
        // The model's input is Features, (3, H, W) floats in [0, 1]: put LoadImages / ResizeImages / ExtractPixels in
        // front of it to score image files (docs/benchmarks-paper.md).
        string zip = Path.Combine(s.Out, "model.zip");
        ml.Model.SaveAtomic(transformer, trainFeatures.Schema, zip);
        log($"saved {zip}");

        // The val split as the network's tensors: the same featurizer, read like the estimator reads its input.
        IDataView valFeatures = Featurizer(ml, s.Height, s.Width).Fit(val).Transform(val);
        MultiTaskDataset test = DataViewConversion.Read(valFeatures, options, DataViewConversion.ResolveTasks(valFeatures.Schema, options), ct, out _);

        CostTable costs = model.Costs;
        var configurations = new List<DenseConfigurationMetrics>();
        foreach ((string name, WidthConfiguration c) in new[] { ("full", costs.Full.Widths), ("smallest", costs.Smallest.Widths) })
        {
            TaskMetrics[] m = NetworkEvaluator.Metrics(model.Network, test, c, Math.Max(2, s.BatchSize), model.Device);
            long macs = costs.Macs(c);
            configurations.Add(new DenseConfigurationMetrics(name, c.ToString(), macs, (double)macs / costs.FullMacs,
                tasks.Select((t, i) => (t.Name, m[i].All)).ToDictionary(p => p.Name, p => p.All, StringComparer.Ordinal)));
            log($"{name} ({c}): " + string.Join("; ", tasks.Select((t, i) => $"{t.Name} {t.PrimaryMetric} {m[i].Primary.ToString("0.0000", Ci)}")));
        }

        CalibrationTable valTable = ModelTrainer.Calibrate(model.Network, test, model.Device);
        ControllabilitySection controllability = new Analyzer(model, test).Controllability(valTable, s.PreferenceVectors, s.Seed);
        var report = new DenseBenchmarkReport(s.Benchmark, s.Device, s.Backbone, s.Epochs, s.BatchSize, s.LearningRate, s.Height, s.Width,
            trainRows, valRows, tasks.Select(t => new TaskSummary(t.Name, t.Kind.ToString(), t.PrimaryMetric, t.HigherIsBetter)).ToArray(),
            costs.FullMacs, costs.SmallestMacs, configurations, controllability, zip);
        File.WriteAllText(Path.Combine(s.Out, "report.json"), JsonSerializer.Serialize(report, Tables.Json));
        File.WriteAllText(Path.Combine(s.Out, "report.md"), Markdown(report));
        log($"wrote {Path.Combine(s.Out, "report.md")}");
        return report;
    }

    private static string Markdown(DenseBenchmarkReport r)
    {
        var md = new StringBuilder();
        md.AppendLine(Ci, $"# {r.Benchmark} ({r.Backbone}, {r.Epochs} epochs, batch {r.BatchSize}, device {r.Device})").AppendLine();
        md.AppendLine(Ci, $"{r.TrainRows} training rows, {r.ValRows} val rows at {r.Height} x {r.Width}; full network {r.FullMacs:N0} MACs per image, smallest {r.SmallestMacs:N0}.").AppendLine();
        md.AppendLine("Metrics on the val split (mIoU, pixelAccuracy, delta1.25, F, maxF, within11.25 in %; RMSE, absRel and meanAngleError in label units / degrees):").AppendLine();
        foreach (DenseConfigurationMetrics c in r.Configurations)
        {
            md.AppendLine(Ci, $"## {c.Name}: `{c.Configuration}` ({Tables.Pct(c.FractionOfFull)} of full MACs)").AppendLine();
            md.AppendLine("| task | metric | value |").AppendLine("|---|---|---:|");
            foreach (TaskSummary t in r.Tasks)
                foreach ((string metric, double v) in c.Metrics[t.Name])
                    md.AppendLine(Ci, $"| {t.Name} | {metric}{(metric == t.PrimaryMetric ? " (primary)" : "")} | {ScenesCommand.Metric(metric, v)} |");
            md.AppendLine();
        }
        md.Append(Tables.Controllability(r.Controllability).ToMarkdown());
        md.AppendLine().AppendLine(Ci, $"Model: `{Path.GetFileName(r.Model)}`.");
        return md.ToString();
    }
}

/// <summary>The featurizer's input: the loaders' image path column.</summary>
public sealed class ImagePathRow
{
    /// <summary>The image's full path (<see cref="NyudV2.ImagePathColumn"/>, <see cref="PascalContext.ImagePathColumn"/>).</summary>
    public string ImagePath { get; set; } = "";
}

/// <summary>The featurizer's output.</summary>
public sealed class ImageFeaturesRow
{
    /// <summary>(3, H, W) floats in [0, 1].</summary>
    public float[] Features { get; set; } = [];
}
