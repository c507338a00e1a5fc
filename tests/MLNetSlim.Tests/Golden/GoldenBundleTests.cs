using System.Runtime.CompilerServices;
using System.Text.Json;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Model;
using MLNetSlim.Serving;
using MLNetSlim.Tests.Onnx;

namespace MLNetSlim.Tests.Golden;

/// <summary>
/// Serving bundles of every released bundle format version, committed under tests/MLNetSlim.Tests/Golden and never
/// regenerated: each must load forever and serve what it served when it was written (outputs stored beside it). Format
/// 1 has no latency table, so millisecond budgets stay unavailable on it. See docs/model-format.md, "Serving bundle".
/// </summary>
[TestClass]
public class GoldenBundleTests
{
    private const double Tolerance = 1e-5;

    public static IEnumerable<object[]> BundleFiles => new[]
    {
        new object[] { "bundle-v1-smallconvnet", 1 }, // format 1: no latency table
    };

    private static string GoldenDirectory => Path.Combine(AppContext.BaseDirectory, "Golden");

    private sealed record Prediction(string Configuration, Dictionary<string, float[]> Scores);

    private sealed record SearchCase(double Budget, double[] Weights, string Configuration);

    private sealed record Expected(int BundleFormatVersion, string[] Tasks, float[] Inputs, int Rows, string[] Configurations,
        Prediction[] Predictions, SearchCase[] Searches);

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    [TestMethod]
    [DynamicData(nameof(BundleFiles))]
    public void GoldenBundle_Loads_SelectsAndPredictsItsStoredOutputs(string name, int version)
    {
        string path = Path.Combine(GoldenDirectory, name + ".mlnsbundle");
        var expected = JsonSerializer.Deserialize<Expected>(File.ReadAllText(Path.Combine(GoldenDirectory, name + ".expected.json")), Json)!;
        Assert.AreEqual(version, expected.BundleFormatVersion);
        byte[] bytes = File.ReadAllBytes(path);
        Assert.AreEqual(version, BitConverter.ToInt32(bytes, 8), "the file's format version (after the 8-byte magic)");
        using ServingMultiTaskModel served = ServingMultiTaskModel.Load(path);
        CollectionAssert.AreEqual(expected.Tasks, served.Tasks.Select(t => t.Name).ToArray());
        CollectionAssert.AreEqual(expected.Configurations, served.Bundle.Configurations.Select(c => c.Widths.ToString()).ToArray());
        if (version < 2)
        {
            Assert.IsNull(served.Bundle.Latency, "format 1 has no latency table");
            Assert.ThrowsExactly<NotSupportedException>(() => served.SelectConfiguration(Budget.Milliseconds(5), [1.0, 1.0]));
        }
        foreach (Prediction p in expected.Predictions)
        {
            float[][] actual = served.Predict(expected.Inputs, expected.Rows, served.Costs.Resolve(WidthConfiguration.Parse(p.Configuration)));
            for (int t = 0; t < expected.Tasks.Length; t++)
            {
                float[] want = p.Scores[expected.Tasks[t]];
                Assert.HasCount(want.Length, actual[t], $"{p.Configuration} {expected.Tasks[t]}");
                for (int i = 0; i < want.Length; i++) Assert.AreEqual(want[i], actual[t][i], Tolerance, $"{p.Configuration} {expected.Tasks[t]} value {i}");
            }
        }
        foreach (SearchCase s in expected.Searches)
            Assert.AreEqual(s.Configuration, served.SelectConfiguration(Budget.FractionOfFull(s.Budget), s.Weights).Widths.ToString(), $"budget {s.Budget}");
    }

    /// <summary>Writes the golden bundle of format 1 (run once, with MLNETSLIM_WRITE_GOLDEN=1; never overwrites). Format
    /// 1 is written by the version-1 path of the writer (<c>ServingBundle.Save(stream, 1)</c>), whose bytes are those
    /// releases before format 2 wrote.</summary>
    [TestMethod]
    public void WriteGoldenBundleOfFormat1()
    {
        if (Environment.GetEnvironmentVariable("MLNETSLIM_WRITE_GOLDEN") != "1")
        {
            Assert.Inconclusive("Generator: set MLNETSLIM_WRITE_GOLDEN=1 to write the golden bundle files.");
            return;
        }
        string dir = SourceDirectory();
        string name = "bundle-v1-smallconvnet";
        string bundlePath = Path.Combine(dir, name + ".mlnsbundle"), jsonPath = Path.Combine(dir, name + ".expected.json");
        foreach (string p in new[] { bundlePath, jsonPath })
            if (File.Exists(p)) throw new InvalidOperationException($"{p} exists: golden files are never regenerated.");
        using ControllableMultiTaskModel model = OnnxTestModels.Model(OnnxTestModels.SmallConvNet(), seed: 41);
        var bundle = new ServingBundle(model.Tasks, model.Channels, model.Height, model.Width, model.Costs, model.Calibration,
            "Features", "Budget", "TaskWeights", Budget.FractionOfFull(0.5), [0.8, 0.2],
            OnnxTestModels.Configurations.Select(c => (c, MLNetSlim.Onnx.MultiTaskOnnxExporter.ToBytes(model, c))).ToArray());
        using (FileStream f = File.Create(bundlePath)) bundle.Save(f, ServingBundle.FormatVersion1);
        using ServingMultiTaskModel served = ServingMultiTaskModel.Load(bundlePath);
        const int rows = 4;
        float[] inputs = OnnxTestModels.RandomImages(rows, seed: 142);
        string[] tasks = model.Tasks.Select(t => t.Name).ToArray();
        Prediction[] predictions = served.Bundle.Configurations.Select(c =>
        {
            float[][] scores = served.Predict(inputs, rows, c);
            return new Prediction(c.Widths.ToString(), tasks.Select((t, i) => (t, scores[i])).ToDictionary(p => p.t, p => p.Item2));
        }).ToArray();
        SearchCase[] searches = new[] { (1.0, new[] { 1.0, 1.0 }), (0.6, new[] { 0.9, 0.1 }), (0.6, new[] { 0.1, 0.9 }), (0.15, new[] { 1.0, 1.0 }) }
            .Select(s => new SearchCase(s.Item1, s.Item2, served.SelectConfiguration(Budget.FractionOfFull(s.Item1), s.Item2).Widths.ToString())).ToArray();
        var expected = new Expected(ServingBundle.FormatVersion1, tasks, inputs, rows, served.Bundle.Configurations.Select(c => c.Widths.ToString()).ToArray(),
            predictions, searches);
        File.WriteAllText(jsonPath, JsonSerializer.Serialize(expected, Json) + "\n");
    }

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
