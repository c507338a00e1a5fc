using System.Diagnostics;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.ML.OnnxRuntime;
using MLNetSlim.Control;
using MLNetSlim.Network;
using MLNetSlim.Onnx;
using Spectre.Console;
using static MLNetSlim.Benchmarks.ReportFiles;
using static TorchSharp.torch;
using MLNetSlim.Architecture;
using MLNetSlim.Model;
using MLNetSlim.MLNet;

namespace MLNetSlim.Benchmarks;

/// <summary>Settings of an `inference` run.</summary>
/// <param name="Configurations">"all" (every configuration of the default model) or "uniform" (one width everywhere).</param>
/// <param name="Batches">Batch sizes measured.</param>
/// <param name="Rounds">Timed interleaved rounds per configuration at batch size 1.</param>
/// <param name="RoundsBatched">Timed interleaved rounds per configuration at batch sizes above 1.</param>
/// <param name="Warmup">Untimed rounds first.</param>
/// <param name="Threads">Intra-op threads of torch and of every ONNX Runtime session.</param>
/// <param name="Out">Output folder.</param>
/// <param name="Seed">Seed of the random weights (latency does not depend on them).</param>
public sealed record InferenceSettings(string Configurations, int[] Batches, int Rounds, int RoundsBatched, int Warmup, int Threads, string Out, int Seed);

/// <summary>Median latencies of one configuration at one batch size, in ms.</summary>
/// <param name="Configuration">The width configuration.</param>
/// <param name="Macs">Its MACs per image.</param>
/// <param name="Batch">Batch size.</param>
/// <param name="TorchMs">(a) MultiTaskNetwork.forward on a ready (N, C, H, W) tensor, no_grad.</param>
/// <param name="FastMs">(b) OnnxRuntimeMultiTaskModel.Predict: floats in, probabilities out (what the transformer calls).</param>
/// <param name="OrtMs">(c) plain ONNX Runtime: InferenceSession.Run on the exported file with a ready input OrtValue.</param>
/// <param name="DefaultMs">(d) the transformer's default path: the forward pass a ControllableMultiTaskTransformer with
/// default settings runs per batch (ONNX Runtime since UseOnnxRuntime became the default).</param>
/// <param name="FastOverOrt">FastMs / OrtMs.</param>
/// <param name="DefaultOverOrt">DefaultMs / OrtMs.</param>
public sealed record InferenceResult(string Configuration, long Macs, int Batch, double TorchMs, double FastMs, double OrtMs, double DefaultMs,
    double FastOverOrt, double DefaultOverOrt);

/// <summary>The `inference` report (inference.json).</summary>
public sealed record InferenceReport(
    MachineInfo Machine,
    InferenceSettings Settings,
    [property: JsonPropertyName("max_fast_over_ort")] double MaxFastOverOrt,
    [property: JsonPropertyName("smallest_over_full_b1")] double SmallestOverFullB1,
    [property: JsonPropertyName("torch_smallest_over_full_b1")] double TorchSmallestOverFullB1,
    [property: JsonPropertyName("ort_smallest_over_full_b1")] double OrtSmallestOverFullB1,
    [property: JsonPropertyName("max_default_over_ort")] double MaxDefaultOverOrt,
    [property: JsonPropertyName("default_path")] string DefaultPath,
    bool MeetsTargets,
    double TotalSeconds,
    IReadOnlyList<InferenceResult> Results);

/// <summary>
/// `inference`: batch-1 and batch-32 latency of every configuration of the default model (SmallConvNet, two 10-class
/// tasks, 1x28x28, widths 0.25-1) through (a) the TorchSharp forward, (b) the ONNX Runtime fast path, (c) plain ONNX
/// Runtime on the exported file and (d) the transformer's default path; per configuration and batch size (b), (c) and
/// (d) are timed in interleaved rounds, then (a).
/// </summary>
public static class InferenceCommand
{
    /// <summary>Target of max (b)/(c).</summary>
    public const double FastOverOrtTarget = 1.1;

    /// <summary>Target of the fast path's smallest/full latency at batch 1.</summary>
    public const double SmallestOverFullTarget = 0.25;

    /// <summary>Runs the benchmark, prints it, writes inference.json and inference.md to the output folder.</summary>
    public static int Run(string[] args, InferenceSettings s)
    {
        if (s.Rounds < 1 || s.RoundsBatched < 1 || s.Warmup < 0 || s.Batches.Length == 0 || s.Batches.Any(b => b < 1))
            throw new ArgumentException($"--rounds ({s.Rounds}) and --rounds-batched ({s.RoundsBatched}) must be >= 1, --warmup ({s.Warmup}) >= 0 and every batch size >= 1 ({string.Join(",", s.Batches)}).");
        var total = Stopwatch.StartNew();
        MachineInfo machine = MachineInfo.Current(args);
        using ControllableMultiTaskModel model = DefaultModel(s.Seed);
        var serving = new OnnxRuntimeServingOptions { IntraOpThreads = s.Threads };
        using var fast = new OnnxRuntimeMultiTaskModel(model, serving, ownsModel: false);
        // (d): a transformer with default settings (UseOnnxRuntime true) and the same thread count.
        var transformer = new ControllableMultiTaskTransformer(model) { IntraOpThreads = s.Threads };
        string defaultPath = transformer.InferencePath;
        AnsiConsole.MarkupLineInterpolated($"[grey]the transformer's default path: {defaultPath}[/]");
        CostTable costs = model.Costs;
        List<WidthConfiguration> configurations = Configurations(model, s.Configurations);
        string dir = Path.Combine(Path.GetTempPath(), "mlnetslim-inference-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var results = new List<InferenceResult>();
        try
        {
            using var noGrad = no_grad();
            var rng = new Random(s.Seed);
            int size = model.Channels * model.Height * model.Width;
            foreach (int batch in s.Batches)
            {
                float[] images = Enumerable.Range(0, batch * size).Select(_ => (float)rng.NextDouble()).ToArray();
                using Tensor x = tensor(images, new long[] { batch, model.Channels, model.Height, model.Width });
                using OrtValue input = OrtValue.CreateTensorValueFromMemory(images, new long[] { batch, size });
                int rounds = batch == 1 ? s.Rounds : s.RoundsBatched;
                AnsiConsole.MarkupLine($"[grey]inference: batch {batch}, {configurations.Count} configurations, {rounds} rounds after {s.Warmup} warm-up ...[/]");
                foreach (WidthConfiguration c in configurations)
                {
                    string path = Path.Combine(dir, $"c{configurations.IndexOf(c)}.onnx");
                    using (FileStream f = File.Create(path)) MultiTaskOnnxExporter.Export(model, c, f);
                    using var options = new SessionOptions { GraphOptimizationLevel = serving.OptimizationLevel };
                    if (s.Threads > 0) { options.IntraOpNumThreads = s.Threads; options.InterOpNumThreads = 1; }
                    using var session = new InferenceSession(path, options);
                    using var runOptions = new RunOptions();
                    string[] inputNames = { session.InputMetadata.Keys.Single() };
                    string[] outputNames = model.Tasks.Select(t => MultiTaskOnnxExporter.ScoreOutputPrefix + t.Name).ToArray();
                    OrtValue[] inputs = { input };
                    fast.Prepare(new[] { c });
                    ResolvedConfiguration resolved = costs.Resolve(c);
                    // (b) and (c) are interleaved with each other only: a TorchSharp pass between them would evict the
                    // caches before whichever ran next and bias the ratio; (a) is timed on its own right after.
                    var onnxActions = new Action[]
                    {
                        () => fast.Predict(images, batch, c),
                        () =>
                        {
                            using IDisposableReadOnlyCollection<OrtValue> o = session.Run(runOptions, inputNames, inputs, outputNames);
                        },
                        () => transformer.Forward(images, batch, resolved),
                    };
                    List<double>[] onnx = Timing.Interleaved(onnxActions, rounds, s.Warmup);
                    List<double>[] torch = Timing.Interleaved(new[] { Timing.Forward(model.Network, x, c) }, rounds, s.Warmup);
                    double torchMs = Timing.Median(torch[0]), fastMs = Timing.Median(onnx[0]), ortMs = Timing.Median(onnx[1]), defaultMs = Timing.Median(onnx[2]);
                    results.Add(new InferenceResult(c.ToString(), costs.Macs(c), batch, torchMs, fastMs, ortMs, defaultMs, fastMs / ortMs, defaultMs / ortMs));
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        string full = model.Network.FullConfiguration.ToString(), smallest = model.Network.SmallestConfiguration.ToString();
        double Ratio(Func<InferenceResult, double> ms)
        {
            InferenceResult? f = results.FirstOrDefault(r => r.Batch == 1 && r.Configuration == full);
            InferenceResult? m = results.FirstOrDefault(r => r.Batch == 1 && r.Configuration == smallest);
            return f is null || m is null ? double.NaN : ms(m) / ms(f);
        }
        double maxFastOverOrt = results.Max(r => r.FastOverOrt);
        double smallestOverFull = Ratio(r => r.FastMs);
        double maxDefaultOverOrt = results.Max(r => r.DefaultOverOrt);
        var report = new InferenceReport(machine, s, maxFastOverOrt, smallestOverFull, Ratio(r => r.TorchMs), Ratio(r => r.OrtMs), maxDefaultOverOrt, defaultPath,
            maxFastOverOrt <= FastOverOrtTarget && smallestOverFull <= SmallestOverFullTarget, total.Elapsed.TotalSeconds, results);

        var table = new Table().AddColumns("configuration", "MACs", "batch", "(a) torch ms", "(b) fast ms", "(c) ORT ms", "(d) default ms", "(b)/(c)", "(d)/(c)");
        foreach (InferenceResult r in results)
            table.AddRow(r.Configuration, M(r.Macs), r.Batch.ToString(), F(r.TorchMs, "0.000"), F(r.FastMs, "0.000"), F(r.OrtMs, "0.000"), F(r.DefaultMs, "0.000"),
                F(r.FastOverOrt, "0.000"), F(r.DefaultOverOrt, "0.000"));
        AnsiConsole.Write(table);

        var md = new StringBuilder()
            .AppendLine("# Inference latency: TorchSharp, the ONNX Runtime fast path, plain ONNX Runtime, the transformer's default path")
            .AppendLine()
            .Append(machine.ToMarkdown())
            .AppendLine()
            .AppendLine($"The default model (SmallConvNet, two 10-class tasks, 1x28x28, widths 0.25/0.5/0.75/1, random weights: latency does not depend on them), {(s.Configurations == "all" ? "every configuration" : "the uniform configurations")}; batch sizes {string.Join(", ", s.Batches)}; per configuration and batch (b), (c) and (d) are timed in {s.Rounds} interleaved rounds at batch 1 and {s.RoundsBatched} at larger batches (alternating order) after {s.Warmup} warm-up rounds, then (a) in as many rounds; medians in ms; {s.Threads} intra-op thread(s) for torch and ONNX Runtime.")
            .AppendLine()
            .AppendLine("(a) `MultiTaskNetwork.forward` on a ready tensor (no_grad); (b) `OnnxRuntimeMultiTaskModel.Predict`, the fast path (floats in, probabilities out, session cached per configuration); (c) `InferenceSession.Run` on the exported file with a ready input; (d) the forward pass a `ControllableMultiTaskTransformer` with default settings runs per batch (what `Transform` cursors and prediction engines call).")
            .AppendLine()
            .AppendLine($"The transformer's default path in this run: **{defaultPath}**.")
            .AppendLine()
            .AppendLine($"- `max_fast_over_ort` (max over configurations and batches of (b)/(c), target <= {FastOverOrtTarget}): **{F(maxFastOverOrt, "0.000")}**")
            .AppendLine($"- `smallest_over_full_b1` (fast path, smallest / full at batch 1, target <= {SmallestOverFullTarget}): **{F(smallestOverFull, "0.000")}** (TorchSharp: {F(report.TorchSmallestOverFullB1, "0.000")}, plain ONNX Runtime: {F(report.OrtSmallestOverFullB1, "0.000")})")
            .AppendLine($"- `max_default_over_ort` (max of (d)/(c): the transformer's default path against plain ONNX Runtime): **{F(maxDefaultOverOrt, "0.000")}**")
            .AppendLine($"- Targets met: {(report.MeetsTargets ? "yes" : "NO")}; run took {F(report.TotalSeconds, "0")} s")
            .AppendLine()
            .AppendLine("| configuration | MACs | batch | (a) torch ms | (b) fast ms | (c) ORT ms | (d) default ms | (b)/(c) | (d)/(c) | (a)/(d) |")
            .AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (InferenceResult r in results)
            md.AppendLine($"| {r.Configuration} | {M(r.Macs)} | {r.Batch} | {F(r.TorchMs, "0.000")} | {F(r.FastMs, "0.000")} | {F(r.OrtMs, "0.000")} | {F(r.DefaultMs, "0.000")} | {F(r.FastOverOrt, "0.000")} | {F(r.DefaultOverOrt, "0.000")} | {F(r.TorchMs / r.DefaultMs, "0.00")} |");
        (string json, string mdPath) = Write(s.Out, "inference", report, md.ToString());
        AnsiConsole.MarkupLineInterpolated($"Wrote {json} and {mdPath}. max_fast_over_ort {F(maxFastOverOrt, "0.000")}, smallest_over_full_b1 {F(smallestOverFull, "0.000")}; targets met: {(report.MeetsTargets ? "yes" : "NO")}");
        return 0;
    }

    /// <summary>The default architecture with random weights and a made-up calibration table (only latency is measured).</summary>
    private static ControllableMultiTaskModel DefaultModel(int seed)
    {
        var tasks = new[] { new TaskDefinition("digit", TaskKind.Classification, 10), new TaskDefinition("fashion", TaskKind.Classification, 10) };
        manual_seed(seed);
        var network = new MultiTaskNetwork(new NetworkOptions { Tasks = tasks, Channels = 1, Height = 28, Width = 28 });
        network.eval();
        CalibrationTable calibration = CalibrationTable.Calibrate(network.CostTable, new[] { true, true },
            (e, d) => new[] { 0.5 + 0.1 * e + 0.05 * d, 0.5 + 0.1 * e + 0.05 * d });
        return ControllableMultiTaskModel.FromNetwork(network, calibration);
    }

    private static List<WidthConfiguration> Configurations(ControllableMultiTaskModel model, string which)
    {
        CostTable costs = model.Costs;
        WidthSet widths = costs.DecoderWidths;
        if (which == "uniform")
            return widths.Multipliers.Reverse().Select(w => WidthConfiguration.Uniform(w, model.Tasks.Count)).ToList();
        var all = new List<WidthConfiguration>();
        for (int e = 0; e < costs.EncoderOptionCount; e++)
        {
            var indices = new int[model.Tasks.Count];
            while (true)
            {
                all.Add(costs.Configuration(e, indices));
                int t = 0;
                while (t < indices.Length && ++indices[t] == widths.Count) indices[t++] = 0;
                if (t == indices.Length) break;
            }
        }
        return all.OrderByDescending(costs.Macs).ToList();
    }
}
