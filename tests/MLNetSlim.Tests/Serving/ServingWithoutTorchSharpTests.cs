using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Onnx;
using MLNetSlim.Serving;

namespace MLNetSlim.Tests.Serving;

/// <summary>
/// Serving without libtorch (issue 13, item 3): a model trained with TorchSharp is exported as a serving bundle; a
/// process whose dependency graph has no TorchSharp (tests/MLNetSlim.ServingHost, referencing only MLNetSlim.Serving
/// and ONNX Runtime) loads it and serves three budgets with task weights, and per-row Budget / TaskWeights columns; its
/// scores equal the TorchSharp transformer's within 1e-4. In-process: PredictionEngine, subset bundles, bad files.
/// </summary>
[TestClass]
public class ServingWithoutTorchSharpTests
{
    private const double Tolerance = 1e-4;
    private const int Size = 28 * 28;

    public TestContext TestContext { get; set; } = null!;

    private static readonly (double Budget, double[] Weights)[] Requests =
    [
        (1.0, [1.0, 1.0]),
        (0.5, [1.0, 0.1]),
        (0.2, [0.1, 1.0]),
    ];

    private sealed class TrainRow
    {
        public float[] Features { get; set; } = [];
        public string Shape { get; set; } = "";
        public string Size { get; set; } = "";
    }

    private sealed class FeatureRow
    {
        public float[] Features { get; set; } = [];
    }

    private sealed class ControlledRow
    {
        public float[] Features { get; set; } = [];
        public float Budget { get; set; }
        public float[] TaskWeights { get; set; } = [];
    }

    private sealed class Prediction
    {
        [ColumnName("Score.Shape")] public float[] Shape { get; set; } = [];
        [ColumnName("PredictedLabel.Shape")] public uint ShapeLabel { get; set; }
    }

    private static float[][] Images(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(i => Enumerable.Range(0, Size).Select(j => (float)((j % (3 + i % 3) == 0 ? 0.8 : 0.1) + 0.2 * rng.NextDouble())).ToArray()).ToArray();
    }

    private static IDataView View<T>(MLContext ml, IEnumerable<T> rows) where T : class
    {
        SchemaDefinition def = SchemaDefinition.Create(typeof(T));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, Size);
        return ml.Data.LoadFromEnumerable(rows, def);
    }

    /// <summary>The real trainer (TorchSharp), one epoch on 96 synthetic 28x28 images.</summary>
    private static (MLContext Ml, ITransformer Model, ControllableMultiTaskTransformer Slim) Train()
    {
        var ml = new MLContext(seed: 1).AddMLNetSlim();
        float[][] images = Images(96, seed: 3);
        IDataView train = View(ml, images.Select((f, i) => new TrainRow { Features = f, Shape = new[] { "circle", "square", "triangle" }[i % 3], Size = i % 2 == 0 ? "small" : "large" }));
        var options = new ControllableMultiTaskEstimator.Options { Tasks = { new("Shape"), new("Size") }, Epochs = 1, BatchSize = 32, Seed = 2, ValidationFraction = 0.25 };
        ITransformer model = ml.Transforms.Conversion.MapValueToKey("Shape").Append(ml.Transforms.Conversion.MapValueToKey("Size"))
            .Append(ml.MulticlassClassification.Trainers.ControllableMultiTask(options)).Fit(train);
        return (ml, model, model.GetControllableMultiTaskTransformer());
    }

    private static float[] TorchScores(ControllableMultiTaskTransformer slim, IDataView data, string task) =>
        slim.Transform(data).GetColumn<float[]>("Score." + task).SelectMany(v => v).ToArray();

    private static double MaxError(float[] a, float[] b)
    {
        Assert.AreEqual(a.Length, b.Length);
        return a.Zip(b, (x, y) => (double)Math.Abs(x - y)).DefaultIfEmpty(0).Max();
    }

    private static Dictionary<string, double> Named(ControllableMultiTaskTransformer slim, double[] w) =>
        slim.Tasks.Select((t, i) => (t.Name, w[i])).ToDictionary(p => p.Name, p => p.Item2);

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void AProcessWithoutTorchSharp_ServesTheBundle_ThreeBudgetsAndPerRowControl_EqualToTorchSharp()
    {
        string host = typeof(ServingWithoutTorchSharpTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "MLNetSlim.ServingHostPath").Value!;
        Assert.IsTrue(File.Exists(host), $"Serving host not built at {host}");
        // 1. The host's dependency graph: no TorchSharp, no libtorch, and no TorchSharp file beside it.
        string deps = File.ReadAllText(Path.ChangeExtension(host, ".deps.json"));
        Assert.IsFalse(deps.Contains("torch", StringComparison.OrdinalIgnoreCase), "the serving host's deps.json mentions torch");
        StringAssert.Contains(deps, "MLNetSlim.Serving");
        StringAssert.Contains(deps, "Microsoft.ML.OnnxRuntime");
        string[] files = Directory.GetFiles(Path.GetDirectoryName(host)!, "*", SearchOption.AllDirectories);
        Assert.IsFalse(files.Any(f => Path.GetFileName(f).Contains("torch", StringComparison.OrdinalIgnoreCase)),
            "a torch file in the serving host's output: " + string.Join(", ", files.Where(f => f.Contains("torch", StringComparison.OrdinalIgnoreCase))));

        // 2. Train with TorchSharp, export the bundle (every configuration), write inputs and requests.
        (MLContext ml, ITransformer model, ControllableMultiTaskTransformer slim) = Train();
        string work = Path.Combine(TestData.TempRoot, "mlnetslim-serving-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            string bundle = Path.Combine(work, "model.mlnsbundle"), inputs = Path.Combine(work, "inputs.bin"), requests = Path.Combine(work, "requests.json");
            ml.Model.ExportServingBundle(model, bundle);
            float[][] images = Images(12, seed: 8);
            using (var w = new BinaryWriter(File.Create(inputs)))
            {
                w.Write(images.Length);
                w.Write(Size);
                foreach (float x in images.SelectMany(f => f)) w.Write(x);
            }
            File.WriteAllText(requests, JsonSerializer.Serialize(Requests.Select(r => new { r.Budget, r.Weights })));

            // 3. Serve in a fresh process.
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { host, bundle, inputs, requests }) psi.ArgumentList.Add(a);
            using Process p = Process.Start(psi)!;
            Task<string> stdout = p.StandardOutput.ReadToEndAsync(TestContext.CancellationToken);
            Task<string> stderr = p.StandardError.ReadToEndAsync(TestContext.CancellationToken);
            if (!p.WaitForExit(300_000))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail("The serving host timed out.");
            }
            Assert.AreEqual(0, p.ExitCode, stderr.Result);
            using JsonDocument doc = JsonDocument.Parse(stdout.Result);
            string[] loaded = doc.RootElement.GetProperty("Assemblies").EnumerateArray().Select(e => e.GetString()!).ToArray();
            Assert.IsFalse(loaded.Any(a => a.Contains("Torch", StringComparison.OrdinalIgnoreCase)), "loaded: " + string.Join(", ", loaded));
            CollectionAssert.Contains(loaded, "MLNetSlim.Serving");
            CollectionAssert.DoesNotContain(loaded, "MLNetSlim");

            // 4. The same budgets and weights through the TorchSharp transformer.
            IDataView plain = View(ml, images.Select(f => new FeatureRow { Features = f }));
            JsonElement[] results = doc.RootElement.GetProperty("Results").EnumerateArray().ToArray();
            Assert.HasCount(Requests.Length, results);
            var configurations = new HashSet<string>();
            for (int i = 0; i < Requests.Length; i++)
            {
                slim.SetControl(Budget.FractionOfFull(Requests[i].Budget), Named(slim, Requests[i].Weights));
                Assert.AreEqual(slim.Configuration.ToString(), results[i].GetProperty("Configuration").GetString(), $"request {i}: the same search");
                Assert.AreEqual(slim.ConfigurationMacs, results[i].GetProperty("Macs").GetInt64());
                configurations.Add(slim.Configuration.ToString());
                foreach (TaskDefinition t in slim.Tasks)
                {
                    float[] served = results[i].GetProperty("Scores").GetProperty(t.Name).EnumerateArray().Select(e => e.GetSingle()).ToArray();
                    double error = MaxError(TorchScores(slim, plain, t.Name), served);
                    Assert.IsTrue(error <= Tolerance, $"request {i} ({slim.Configuration}) task {t.Name}: max error {error}");
                }
            }
            Assert.IsTrue(configurations.Count >= 2, "the three requests should reach different configurations: " + string.Join(" | ", configurations));

            // 5. Per-row Budget / TaskWeights columns (row i takes request i mod 3).
            slim.SetControl(Budget.Full, null);
            IDataView perRow = View(ml, images.Select((f, i) => new ControlledRow
            {
                Features = f,
                Budget = (float)Requests[i % Requests.Length].Budget,
                TaskWeights = Requests[i % Requests.Length].Weights.Select(x => (float)x).ToArray(),
            }));
            foreach (TaskDefinition t in slim.Tasks)
            {
                float[] served = doc.RootElement.GetProperty("PerRow").GetProperty(t.Name).EnumerateArray().Select(e => e.GetSingle()).ToArray();
                double error = MaxError(TorchScores(slim, perRow, t.Name), served);
                Assert.IsTrue(error <= Tolerance, $"per-row control, task {t.Name}: max error {error}");
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void InProcess_PredictionEngine_SubsetBundle_AndBadFiles()
    {
        (MLContext ml, ITransformer model, ControllableMultiTaskTransformer slim) = Train();
        string work = Path.Combine(TestData.TempRoot, "mlnetslim-serving-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        try
        {
            string path = Path.Combine(work, "all.mlnsbundle");
            ml.Model.ExportServingBundle(model, path);
            using ServingMultiTaskModel served = ServingMultiTaskModel.Load(path);
            Assert.IsTrue(served.Bundle.HasEveryConfiguration);
            Assert.AreEqual(64, served.Bundle.Configurations.Count);
            var serving = new ServingMultiTaskTransformer(served);
            Assert.AreEqual(slim.Configuration, serving.Configuration, "the exported control comes with the bundle");
            float[] image = Images(1, seed: 5)[0];

            // PredictionEngine at three budgets, against the TorchSharp transformer's engine.
            SchemaDefinition def = SchemaDefinition.Create(typeof(FeatureRow));
            def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, Size);
            using var servingEngine = ml.Model.CreatePredictionEngine<FeatureRow, Prediction>(serving, inputSchemaDefinition: def);
            using var torchEngine = ml.Model.CreatePredictionEngine<FeatureRow, Prediction>(slim, inputSchemaDefinition: def);
            foreach ((double budget, double[] weights) in Requests)
            {
                slim.SetControl(Budget.FractionOfFull(budget), Named(slim, weights));
                serving.SetControl(Budget.FractionOfFull(budget), Named(slim, weights));
                Assert.AreEqual(slim.Configuration, serving.Configuration);
                Prediction a = torchEngine.Predict(new FeatureRow { Features = image }), b = servingEngine.Predict(new FeatureRow { Features = image });
                Assert.IsTrue(MaxError(a.Shape, b.Shape) <= Tolerance, $"budget {budget}");
                Assert.AreEqual(a.ShapeLabel, b.ShapeLabel);
            }
            Assert.AreEqual(serving.Budget, Budget.FractionOfFull(0.2));
            Assert.ThrowsExactly<BudgetInfeasibleException>(() => serving.Budget = Budget.FractionOfFull(0.001));
            Assert.AreEqual(Budget.FractionOfFull(0.2), serving.Budget, "a failed set leaves the control unchanged");

            // Millisecond budgets: the bundle's latency table (batch-1 ONNX Runtime, measured at export on this machine)
            // drives the same search as on the TorchSharp side.
            Assert.IsNotNull(served.Bundle.Latency);
            LatencyTable latency = served.Bundle.Latency.Table;
            double cheapest = served.Bundle.Configurations.Min(c => latency.PredictMs(c.EncoderOption, c.DecoderWidthIndices));
            serving.Budget = Budget.Milliseconds(cheapest * 1.5);
            Assert.IsTrue(latency.PredictMs(serving.Configuration) <= cheapest * 1.5, $"{serving.Configuration}");
            Assert.AreEqual(new ConfigurationSearch(served.Costs, served.Bundle.Calibration, latency).Search(Budget.Milliseconds(cheapest * 1.5), served.Tasks.Select(t => serving.TaskWeights[t.Name]).ToArray()).Configuration,
                serving.Configuration, "the ECMT search over the bundle's latencies");
            serving.Budget = Budget.FractionOfFull(0.2);

            // A subset bundle: only the full and the smallest configuration; the choice stays inside it.
            string subset = Path.Combine(work, "subset.mlnsbundle");
            WidthConfiguration full = WidthConfiguration.Uniform(1.0, 2), smallest = WidthConfiguration.Uniform(0.25, 2);
            ml.Model.ExportServingBundle(model, subset, [full, smallest]);
            using ServingMultiTaskModel two = ServingMultiTaskModel.Load(subset);
            Assert.IsFalse(two.Bundle.HasEveryConfiguration);
            // At the full budget both fit: the higher preference-weighted relative calibration metric wins.
            foreach (double[] w in new[] { new[] { 1.0, 0.0 }, new[] { 0.0, 1.0 }, new[] { 1.0, 1.0 } })
            {
                double Score(WidthConfiguration c)
                {
                    ResolvedConfiguration r = two.Costs.Resolve(c);
                    double[] rel = two.Bundle.Calibration.Relative(r.EncoderOption, r.DecoderWidthIndices);
                    return (w[0] * rel[0] + w[1] * rel[1]) / (w[0] + w[1]);
                }
                WidthConfiguration expected = Score(full) >= Score(smallest) ? full : smallest;
                if (Score(full) == Score(smallest)) expected = smallest; // ties: fewer MACs
                Assert.AreEqual(expected, two.SelectConfiguration(Budget.Full, w).Widths, $"weights {w[0]}, {w[1]}");
            }
            Assert.AreEqual(smallest, two.SelectConfiguration(Budget.FractionOfFull(0.5), [1, 1]).Widths, "only the smallest fits");
            Assert.ThrowsExactly<BudgetInfeasibleException>(() => two.SelectConfiguration(Budget.FractionOfFull(0.01), [1, 1]));
            Assert.ThrowsExactly<ArgumentException>(() => two.Predict(image, 1, two.Costs.Resolve(new WidthConfiguration(0.5, 0.5, 0.5))));

            // Bad files: one exception type naming the file and what is wrong.
            byte[] bytes = File.ReadAllBytes(path);
            string damaged = Path.Combine(work, "damaged.mlnsbundle");
            byte[] flipped = (byte[])bytes.Clone();
            flipped[bytes.Length / 2] ^= 0x40;
            File.WriteAllBytes(damaged, flipped);
            var e1 = Assert.ThrowsExactly<InvalidModelFileException>(() => ServingBundle.Load(damaged));
            StringAssert.Contains(e1.Message, "damaged.mlnsbundle");
            StringAssert.Contains(e1.Message, "checksum mismatch");
            File.WriteAllBytes(damaged, bytes.AsSpan(0, bytes.Length - 100).ToArray());
            StringAssert.Contains(Assert.ThrowsExactly<InvalidModelFileException>(() => ServingBundle.Load(damaged)).Message, "truncated");
            byte[] newer = (byte[])bytes.Clone();
            newer[8] = 3;
            File.WriteAllBytes(damaged, newer);
            StringAssert.Contains(Assert.ThrowsExactly<InvalidModelFileException>(() => ServingBundle.Load(damaged)).Message,
                "serving bundle format version 3 is newer than this library reads (versions 1 to 2)");
            File.WriteAllBytes(damaged, "not a bundle"u8.ToArray());
            StringAssert.Contains(Assert.ThrowsExactly<InvalidModelFileException>(() => ServingBundle.Load(damaged)).Message, "not an MLNetSlim serving bundle");
            Assert.ThrowsExactly<NotSupportedException>(() => ml.Model.Save(serving, null, Path.Combine(work, "x.zip")));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
