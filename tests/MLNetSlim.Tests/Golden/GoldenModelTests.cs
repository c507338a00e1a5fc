using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Network;
using MLNetSlim.Tests.Onnx;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.Tests.Golden;

/// <summary>
/// Model files of every released format version, committed under tests/MLNetSlim.Tests/Golden and NEVER regenerated:
/// each must load forever and predict what it predicted when it was written (the outputs are stored beside it).
/// A change that breaks reading an old file fails here. See docs/model-format.md, "Version policy".
/// </summary>
[TestClass]
public class GoldenModelTests
{
    private const double Tolerance = 1e-5;

    /// <summary>The golden files of each model-stream format version; add a line when a new version is released.</summary>
    public static IEnumerable<object[]> ModelFiles => new[]
    {
        new object[] { "model-v1-smallconvnet" },
        new object[] { "model-v1-resnet" },
        new object[] { "model-v2-smallconvnet" }, // format 2: the payload in an integrity frame (length + SHA-256)
        new object[] { "model-v2-resnet" },
        new object[] { "model-v3-smallconvnet" }, // format 3: a decoder width set separate from the encoder's (0.125 to 1 in steps of 1/8)
        new object[] { "model-v3-resnet" },
    };

    /// <summary>ML.NET zips holding a transformer of each transformer-record version.</summary>
    public static IEnumerable<object[]> ZipFiles => new[]
    {
        new object[] { "model-v1-smallconvnet" }, // transformer record 1.1
        new object[] { "model-v2-smallconvnet" }, // transformer record 1.3 (integrity frames)
        new object[] { "model-v3-smallconvnet" }, // transformer record 1.3 holding a format-3 model stream
    };

    private static string GoldenDirectory => Path.Combine(AppContext.BaseDirectory, "Golden");

    private sealed record Prediction(string Configuration, Dictionary<string, float[][]> Scores);

    private sealed record SearchCase(double Budget, double[] Weights, string Configuration);

    private sealed record ZipCase(double Budget, Dictionary<string, double> Weights, string Configuration, Dictionary<string, float[][]> Scores);

    private sealed record Expected(
        int ModelFormatVersion, string Id, string[] Tasks, int Channels, int Height, int Width, float[][] Inputs,
        Prediction[] Predictions, SearchCase[] Searches, ZipCase? Zip);

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private static Expected Read(string name) =>
        JsonSerializer.Deserialize<Expected>(File.ReadAllText(Path.Combine(GoldenDirectory, name + ".expected.json")), Json)!;

    private static void AssertClose(float[][] expected, float[] actualFlat, string what)
    {
        int k = expected[0].Length;
        Assert.AreEqual(expected.Length * k, actualFlat.Length, what);
        for (int i = 0; i < expected.Length; i++)
            for (int j = 0; j < k; j++)
                Assert.AreEqual(expected[i][j], actualFlat[i * k + j], Tolerance, $"{what}: row {i}, class {j}");
    }

    [TestMethod]
    [DynamicData(nameof(ModelFiles))]
    public void GoldenModelStream_Loads_AndPredictsItsStoredOutputs(string name)
    {
        Expected expected = Read(name);
        using ControllableMultiTaskModel model = ControllableMultiTaskModel.Load(Path.Combine(GoldenDirectory, name + ".mlnslim"));
        Assert.AreEqual(Guid.Parse(expected.Id), model.Id);
        CollectionAssert.AreEqual(expected.Tasks, model.Tasks.Select(t => t.Name).ToArray());
        Assert.AreEqual((expected.Channels, expected.Height, expected.Width), (model.Channels, model.Height, model.Width));
        float[] images = expected.Inputs.SelectMany(r => r).ToArray();
        foreach (Prediction p in expected.Predictions)
        {
            float[][] scores = model.Predict(images, expected.Inputs.Length, WidthConfiguration.Parse(p.Configuration));
            for (int t = 0; t < expected.Tasks.Length; t++)
                AssertClose(p.Scores[expected.Tasks[t]], scores[t], $"{name} {p.Configuration} {expected.Tasks[t]}");
        }
        // The stored answers were recorded before the fitted gain curve became stage 2's default (issue 12); with the
        // envelope they were made with, they show that the stored calibration table loads intact.
        var envelopeSearch = new ConfigurationSearch(model.Costs, model.Calibration,
            options: new SearchOptions { DecoderGainModel = DecoderGainModel.MonotoneEnvelope });
        foreach (SearchCase s in expected.Searches)
        {
            Budget budget = Budget.FractionOfFull(s.Budget);
            Assert.AreEqual(s.Configuration, envelopeSearch.Search(budget, s.Weights).Configuration.ToString(),
                $"{name}: budget {s.Budget}, weights [{string.Join(", ", s.Weights)}]");
            Assert.AreEqual(new ConfigurationSearch(model.Costs, model.Calibration).Search(budget, s.Weights).Configuration.ToString(),
                model.SelectConfiguration(budget, s.Weights).ToString(), $"{name}: the model's search is the default search on its tables");
        }
    }

    [TestMethod]
    [DynamicData(nameof(ZipFiles))]
    public void GoldenMLNetZip_Loads_RestoresControl_AndPredictsItsStoredOutputs(string name)
    {
        Expected expected = Read(name);
        ZipCase zip = expected.Zip!;
        var ml = new MLContext(seed: 1).AddMLNetSlim();
        ITransformer loaded = ml.Model.LoadChecked(Path.Combine(GoldenDirectory, name + ".zip"), out DataViewSchema schema);
        var slim = (loaded as IEnumerable<ITransformer> ?? [loaded]).OfType<ControllableMultiTaskTransformer>().Single();
        Assert.AreEqual(Budget.FractionOfFull(zip.Budget), slim.Budget);
        CollectionAssert.AreEquivalent(zip.Weights.ToList(), slim.TaskWeights.ToList());
        Assert.AreEqual(zip.Configuration, slim.Configuration.ToString());
        int size = expected.Channels * expected.Height * expected.Width;
        IDataView data = ml.Data.LoadFromEnumerable(expected.Inputs.Select(r => new Row { Features = r }), Row.Schema(size));
        IDataView scored = loaded.Transform(data);
        foreach (string task in expected.Tasks)
        {
            float[] flat = scored.GetColumn<VBuffer<float>>("Score." + task).SelectMany(v => v.DenseValues()).ToArray();
            AssertClose(zip.Scores[task], flat, $"{name}.zip {task}");
        }
    }

    [TestMethod]
    public void ModelStreamOfANewerFormatVersion_FailsWithAnErrorNamingBothVersions()
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(GoldenDirectory, "model-v1-smallconvnet.mlnslim"));
        int newer = ControllableMultiTaskModel.FormatVersion + 41;
        BitConverter.TryWriteBytes(bytes.AsSpan(8, 4), newer); // after the 8-byte magic, int32 little-endian
        using var stream = new MemoryStream(bytes);
        Exception e = Assert.Throws<Exception>(() => ControllableMultiTaskModel.Load(stream));
        Assert.IsTrue(e is InvalidDataException or FormatException, $"{e.GetType().Name}: {e.Message}");
        StringAssert.Contains(e.Message, newer.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.IsTrue(Regex.IsMatch(e.Message, $@"\b{ControllableMultiTaskModel.FormatVersion}\b"),
            $"the message names the version this library reads ({ControllableMultiTaskModel.FormatVersion}): {e.Message}");
    }

    private sealed class Row
    {
        public float[] Features { get; set; } = Array.Empty<float>();

        public static SchemaDefinition Schema(int size)
        {
            SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
            def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
            return def;
        }
    }

    /// <summary>
    /// Writes the golden files of the CURRENT format version (run once per new version, with
    /// MLNETSLIM_WRITE_GOLDEN=1): refuses to overwrite a file that exists, since a golden file is never regenerated.
    /// </summary>
    [TestMethod]
    public void WriteGoldenFilesOfTheCurrentFormat()
    {
        if (Environment.GetEnvironmentVariable("MLNETSLIM_WRITE_GOLDEN") != "1")
        {
            Assert.Inconclusive("Generator: set MLNETSLIM_WRITE_GOLDEN=1 to write the golden files of a new format version.");
            return;
        }
        string dir = SourceDirectory();
        int v = ControllableMultiTaskModel.FormatVersion;
        // Format 3 added a decoder width set separate from the encoder's: its golden files use one (0.125 to 1 in steps
        // of 1/8, encoder 0.25 to 1 in steps of 1/4).
        WriteGolden(dir, $"model-v{v}-smallconvnet", OnnxTestModels.SmallConvNet(), seed: 21 + 10 * (v - 2), withZip: true, GoldenDecoderWidths);
        WriteGolden(dir, $"model-v{v}-resnet", OnnxTestModels.ResNet(), seed: 22 + 10 * (v - 2), withZip: false, GoldenDecoderWidths);
    }

    private static readonly double[] GoldenDecoderWidths = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0];

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    private static void WriteGolden(string dir, string name, MLNetSlim.Network.Backbones.BackboneOptions backbone, int seed, bool withZip,
        double[]? decoderWidths = null)
    {
        string modelPath = Path.Combine(dir, name + ".mlnslim"), jsonPath = Path.Combine(dir, name + ".expected.json"), zipPath = Path.Combine(dir, name + ".zip");
        foreach (string p in new[] { modelPath, jsonPath, zipPath })
            if (File.Exists(p)) throw new InvalidOperationException($"{p} exists: golden files are never regenerated.");
        using ControllableMultiTaskModel model = OnnxTestModels.Model(backbone, seed, decoderWidths);
        const int rows = 4;
        float[] images = OnnxTestModels.RandomImages(rows, seed + 100);
        int size = OnnxTestModels.Size;
        float[][] inputs = Enumerable.Range(0, rows).Select(i => images.AsSpan(i * size, size).ToArray()).ToArray();
        string[] tasks = model.Tasks.Select(t => t.Name).ToArray();
        Dictionary<string, float[][]> Scores(float[][] flat) => tasks.Select((t, i) => (t, Enumerable.Range(0, rows)
            .Select(r => flat[i].AsSpan(r * model.Tasks[i].NumClasses, model.Tasks[i].NumClasses).ToArray()).ToArray())).ToDictionary(p => p.t, p => p.Item2);
        WidthConfiguration[] configurations = decoderWidths is null ? OnnxTestModels.Configurations
            : [.. OnnxTestModels.Configurations, WidthConfiguration.Parse("enc=0.5 dec=0.125,0.875"), WidthConfiguration.Parse("enc=0.75 dec=0.625,0.375")];
        Prediction[] predictions = configurations
            .Select(c => new Prediction(c.ToString(), Scores(model.Predict(images, rows, c)))).ToArray();
        var searches = new[] { (0.3, new[] { 1.0, 1.0 }), (0.5, new[] { 0.9, 0.1 }), (0.5, new[] { 0.1, 0.9 }), (0.8, new[] { 1.0, 0.0 }) }
            .Select(s => new SearchCase(s.Item1, s.Item2, model.SelectConfiguration(Budget.FractionOfFull(s.Item1), s.Item2).ToString())).ToArray();
        model.Save(modelPath);

        ZipCase? zip = null;
        if (withZip)
        {
            var ml = new MLContext(seed: 1).AddMLNetSlim();
            var weights = new Dictionary<string, double> { [tasks[0]] = 0.8, [tasks[1]] = 0.2 };
            var transformer = new ControllableMultiTaskTransformer(model, budget: Budget.FractionOfFull(0.5), taskWeights: weights);
            IDataView data = ml.Data.LoadFromEnumerable(inputs.Select(r => new Row { Features = r }), Row.Schema(size));
            ml.Model.Save(new TransformerChain<ITransformer>(transformer), data.Schema, zipPath);
            IDataView scored = transformer.Transform(data);
            var zipScores = tasks.ToDictionary(t => t, t => scored.GetColumn<VBuffer<float>>("Score." + t).Select(b => b.DenseValues().ToArray()).ToArray());
            zip = new ZipCase(0.5, weights, transformer.Configuration.ToString(), zipScores);
        }
        var expected = new Expected(ControllableMultiTaskModel.FormatVersion, model.Id.ToString("D"), tasks, model.Channels, model.Height, model.Width,
            inputs, predictions, searches, zip);
        File.WriteAllText(jsonPath, JsonSerializer.Serialize(expected, Json) + "\n");
    }
}
