using System.Diagnostics;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Model;
using MLNetSlim.MLNet;
using MLNetSlim.Network;
using MLNetSlim.Training;
using Spectre.Console;
using static MLNetSlim.Benchmarks.ReportFiles;

namespace MLNetSlim.Benchmarks;

/// <summary>Settings of the serving benchmark.</summary>
/// <param name="Rounds">Timed rounds; each times the 1-engine and the 2-engine series once, in alternating order.</param>
/// <param name="Predictions">Batch-1 predictions per engine per round.</param>
/// <param name="Warmup">Untimed predictions per engine before the first round.</param>
/// <param name="Budget">Budget (fraction of full MACs) of the transformer's control.</param>
/// <param name="Model">An ML.NET model zip holding a ControllableMultiTaskTransformer, or null for an untrained network
/// of the default architecture (timing does not depend on the weights).</param>
/// <param name="OutDir">Output folder.</param>
public sealed record ServingSettings(int Rounds, int Predictions, int Warmup, double Budget, string? Model, string OutDir);

/// <summary>The serving benchmark's report; <see cref="ParallelSpeedup"/> is written as "parallel_speedup".</summary>
public sealed record ServingReport(
    MachineInfo Machine,
    string? LoadAverageAtEnd,
    string Model,
    string Configuration,
    long ConfigurationMacs,
    int Rounds,
    int PredictionsPerEnginePerRound,
    int TorchThreadsPerEngine,
    double OneEnginePredictionsPerSecond,
    double TwoEnginesPredictionsPerSecond,
    [property: JsonPropertyName("parallel_speedup")] double ParallelSpeedup,
    IReadOnlyList<double> OneEngineRounds,
    IReadOnlyList<double> TwoEnginesRounds,
    double OneEngineCoresUsed,
    double TwoEnginesCoresUsed);

/// <summary>
/// `serving`: batch-1 predictions per second from ONE transformer (one loaded model) through 1 and 2 ML.NET prediction
/// engines, each engine on its own thread with 1 torch intra-op thread; rounds interleave the two series so a drift in
/// the machine's load hits both alike. The median of the per-round ratios (2 engines / 1 engine) is the parallel speedup.
/// </summary>
public static class ServingCommand
{
    /// <summary>The input row: one image.</summary>
    public sealed class Input
    {
        /// <summary>The image (C*H*W floats).</summary>
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    /// <summary>The output row: task 0's scores.</summary>
    public sealed class Output
    {
        /// <summary>Class probabilities of task 0.</summary>
        public float[] Score { get; set; } = Array.Empty<float>();
    }

    /// <summary>Runs the benchmark, prints it, writes serving.json and serving.md to <see cref="ServingSettings.OutDir"/>.</summary>
    public static int Run(string[] args, ServingSettings s)
    {
        if (s.Rounds < 1 || s.Predictions < 1 || s.Warmup < 0) throw new ArgumentOutOfRangeException(nameof(s), "--rounds and --predictions must be >= 1, --warmup >= 0.");
        TorchSharp.torch.set_num_threads(1); // the default for the engine threads; each engine also sets it (IntraOpThreads)
        MachineInfo machine = MachineInfo.Current(args);
        var ml = new MLContext(0).AddMLNetSlim();
        ControllableMultiTaskTransformer transformer;
        string source;
        IDisposable? owned = null;
        if (s.Model is not null)
        {
            ITransformer loaded = ml.Model.Load(s.Model, out _);
            transformer = Find(loaded) ?? throw new ArgumentException($"'{s.Model}' holds no ControllableMultiTaskTransformer.");
            source = $"loaded from {s.Model}";
        }
        else
        {
            var model = UntrainedModel();
            owned = model;
            transformer = new ControllableMultiTaskTransformer(model);
            source = "untrained default architecture (SmallConvNet, 1x28x28, two 10-class tasks, widths 0.25-1), synthetic calibration table";
        }
        try
        {
            transformer.Budget = Budget.FractionOfFull(s.Budget);
            transformer.IntraOpThreads = 1;
            IMultiTaskModel m = transformer.Model;
            int size = m.Channels * m.Height * m.Width;
            SchemaDefinition inDef = SchemaDefinition.Create(typeof(Input));
            inDef["Features"].ColumnName = transformer.FeatureColumnName;
            inDef[transformer.FeatureColumnName].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
            SchemaDefinition outDef = SchemaDefinition.Create(typeof(Output));
            outDef["Score"].ColumnName = ControllableMultiTaskTransformer.ScoreColumnName(m.Tasks[0].Name);
            var rng = new Random(1);
            float[][] images = Enumerable.Range(0, 64).Select(_ => Enumerable.Range(0, size).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
            Log($"{source}; configuration {transformer.Configuration} ({M(transformer.ConfigurationMacs)} of {M(transformer.FullMacs)})");

            using var workers = new EngineWorkers(2, () => ml.Model.CreatePredictionEngine<Input, Output>(transformer, inputSchemaDefinition: inDef, outputSchemaDefinition: outDef), images);
            Log($"warm-up: {s.Warmup} predictions per engine ...");
            workers.Run(2, s.Warmup);
            var one = new List<double>();
            var two = new List<double>();
            var cores1 = new List<double>();
            var cores2 = new List<double>();
            for (int r = 0; r < s.Rounds; r++)
            {
                foreach (int engines in r % 2 == 0 ? new[] { 1, 2 } : new[] { 2, 1 })
                {
                    (double seconds, double cpuSeconds) = workers.Run(engines, s.Predictions);
                    (engines == 1 ? one : two).Add(engines * s.Predictions / seconds);
                    (engines == 1 ? cores1 : cores2).Add(cpuSeconds / seconds);
                }
                Log($"round {r + 1}/{s.Rounds}: 1 engine {F(one[^1], "0")}/s ({F(cores1[^1])} cores), 2 engines {F(two[^1], "0")}/s ({F(cores2[^1])} cores), x{F(two[^1] / one[^1])}; load {MachineInfo.CurrentLoadAverage()}");
            }
            double p1 = Timing.Median(one), p2 = Timing.Median(two);
            // Rounds pair the two series under the same load: the speedup is the median of the per-round ratios.
            double speedup = Timing.Median(one.Select((x, i) => two[i] / x).ToArray());
            var report = new ServingReport(machine, MachineInfo.CurrentLoadAverage(), source, transformer.Configuration.ToString(), transformer.ConfigurationMacs,
                s.Rounds, s.Predictions, 1, p1, p2, speedup, one, two, Timing.Median(cores1), Timing.Median(cores2));

            var table = new Table().AddColumns("engines", "predictions/s (median)", "rounds");
            table.AddRow("1", F(p1, "0"), string.Join(" ", one.Select(x => F(x, "0"))));
            table.AddRow("2", F(p2, "0"), string.Join(" ", two.Select(x => F(x, "0"))));
            AnsiConsole.Write(table);
            var md = new StringBuilder()
                .AppendLine("# Serving benchmark (one loaded model, parallel prediction engines)")
                .AppendLine()
                .Append(machine.ToMarkdown())
                .AppendLine($"- Load average at end: {report.LoadAverageAtEnd ?? "n/a"}")
                .AppendLine($"- Model: {source}")
                .AppendLine($"- Configuration: {report.Configuration} ({M(report.ConfigurationMacs)}), budget {s.Budget} of full MACs")
                .AppendLine()
                .AppendLine($"One `ControllableMultiTaskTransformer`; each prediction engine (`mlContext.Model.CreatePredictionEngine`) runs on its own thread with 1 torch intra-op thread (`IntraOpThreads = 1`) and predicts one image at a time. A round times the 1-engine series and the 2-engine series ({s.Predictions} predictions per engine each), in alternating order; {s.Rounds} rounds after {s.Warmup} warm-up predictions per engine. Figures are medians over rounds.")
                .AppendLine()
                .AppendLine("| engines | predictions/s | per round |")
                .AppendLine("|---:|---:|---|")
                .AppendLine($"| 1 | {F(p1, "0")} | {string.Join(", ", one.Select(x => F(x, "0")))} |")
                .AppendLine($"| 2 | {F(p2, "0")} | {string.Join(", ", two.Select(x => F(x, "0")))} |")
                .AppendLine()
                .AppendLine($"Cores used (process CPU time / wall time, medians): {F(report.OneEngineCoresUsed)} with 1 engine, {F(report.TwoEnginesCoresUsed)} with 2 engines. " +
                    "Close to 2 with 2 engines means the engines do run in parallel; a speedup below the cores used means the cores are shared with other work.")
                .AppendLine()
                .AppendLine($"**Parallel speedup (2 engines / 1 engine, median of the per-round ratios): {F(report.ParallelSpeedup)}x** (target on a quiet 2-core machine: >= 1.6x). " +
                    "On a machine shared with other jobs (see the load average) the second engine competes for the same cores, so the figure is a lower bound.");
            if (BusyLoad(machine.LoadAverage) is double load && load > machine.Cores)
                md.AppendLine().AppendLine($"Note: the 1-minute load average at the start ({F(load, "0.0")}) exceeds the {machine.Cores} cores: other jobs were running, and these figures understate both throughput and speedup. Re-run on a quiet machine for the reference figure.");
            (string json, string mdPath) = Write(s.OutDir, "serving", report, md.ToString());
            AnsiConsole.MarkupLineInterpolated($"Wrote {json} and {mdPath}. parallel_speedup = {F(report.ParallelSpeedup)}");
            return 0;
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <summary>The default architecture, untrained (seeded), with a synthetic calibration table (wider is better).</summary>
    private static ControllableMultiTaskModel UntrainedModel()
    {
        var options = new NetworkOptions
        {
            Tasks = [new TaskDefinition("digit", TaskKind.Classification, 10), new TaskDefinition("fashion", TaskKind.Classification, 10)],
        };
        MultiTaskNetwork network = SupernetTrainer.CreateNetwork(options, 0);
        CalibrationTable table = CalibrationTable.Calibrate(network.CostTable, [true, true], (e, d) => [0.5 + 0.1 * e + 0.05 * d, 0.5 + 0.08 * e + 0.04 * d]);
        return ControllableMultiTaskModel.FromParts(network, table);
    }

    private static double? BusyLoad(string? loadAverage) =>
        loadAverage is not null && double.TryParse(loadAverage.Split(' ')[0], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double l) ? l : null;

    private static ControllableMultiTaskTransformer? Find(ITransformer t) => t switch
    {
        ControllableMultiTaskTransformer c => c,
        IEnumerable<ITransformer> chain => chain.Select(Find).LastOrDefault(x => x is not null),
        _ => null,
    };

    private static void Log(string message) =>
        AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss}[/] {message}");

    /// <summary>Long-lived threads, each owning one prediction engine; <see cref="Run"/> starts the first k together
    /// and returns the wall time until all are done.</summary>
    private sealed class EngineWorkers : IDisposable
    {
        private readonly Thread[] _threads;
        private readonly SemaphoreSlim[] _go;
        private readonly CountdownEvent _done = new(1);
        private readonly float[][] _images;
        private volatile bool _stop;
        private int _count;
        private Exception? _error;

        public EngineWorkers(int n, Func<PredictionEngine<Input, Output>> create, float[][] images)
        {
            _images = images;
            _go = Enumerable.Range(0, n).Select(_ => new SemaphoreSlim(0)).ToArray();
            _threads = Enumerable.Range(0, n).Select(k => new Thread(() => Loop(k, create)) { IsBackground = true, Name = $"engine {k}" }).ToArray();
            foreach (Thread t in _threads) t.Start();
        }

        private void Loop(int k, Func<PredictionEngine<Input, Output>> create)
        {
            using PredictionEngine<Input, Output> engine = create();
            var input = new Input();
            while (true)
            {
                _go[k].Wait();
                if (_stop) return;
                try
                {
                    for (int i = 0; i < _count; i++)
                    {
                        input.Features = _images[(i + k) % _images.Length];
                        engine.Predict(input);
                    }
                }
                catch (Exception e)
                {
                    _error = e;
                }
                _done.Signal();
            }
        }

        /// <summary>Wall seconds and process CPU seconds of <paramref name="predictions"/> predictions on each of the
        /// first <paramref name="engines"/> engines.</summary>
        public (double Seconds, double CpuSeconds) Run(int engines, int predictions)
        {
            _count = predictions;
            _done.Reset(engines);
            using var process = Process.GetCurrentProcess();
            TimeSpan cpu0 = process.TotalProcessorTime;
            long start = Stopwatch.GetTimestamp();
            for (int k = 0; k < engines; k++) _go[k].Release();
            _done.Wait();
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            process.Refresh();
            double cpu = (process.TotalProcessorTime - cpu0).TotalSeconds;
            if (_error is not null) throw new InvalidOperationException("A prediction engine failed.", _error);
            return (seconds, cpu);
        }

        public void Dispose()
        {
            _stop = true;
            foreach (SemaphoreSlim g in _go) g.Release();
            foreach (Thread t in _threads) t.Join();
        }
    }
}
