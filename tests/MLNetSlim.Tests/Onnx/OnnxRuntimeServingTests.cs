using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Network;
using MLNetSlim.Onnx;
using Microsoft.ML.OnnxRuntime;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.Tests.Onnx;

[TestClass]
public class OnnxRuntimeServingTests
{
    private const double Tolerance = 1e-4;

    private sealed class Row
    {
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    private static IDataView Data(MLContext ml, float[] images)
    {
        SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, OnnxTestModels.Size);
        return ml.Data.LoadFromEnumerable(
            Enumerable.Range(0, images.Length / OnnxTestModels.Size).Select(i => new Row { Features = images.AsSpan(i * OnnxTestModels.Size, OnnxTestModels.Size).ToArray() }), def);
    }

    private static double MaxError(float[] a, float[] b)
    {
        Assert.AreEqual(a.Length, b.Length);
        return a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();
    }

    [TestMethod]
    [DataRow("SmallConvNet")]
    [DataRow("ResNet")]
    public void Predict_EqualsTheTorchSharpModel_AndExportsEachConfigurationOnce(string backbone)
    {
        using ControllableMultiTaskModel model = OnnxTestModels.Model(backbone == "ResNet" ? OnnxTestModels.ResNet() : OnnxTestModels.SmallConvNet(), seed: 9);
        using var fast = new OnnxRuntimeMultiTaskModel(model, new OnnxRuntimeServingOptions { IntraOpThreads = 1 }, ownsModel: false);
        float[] images = OnnxTestModels.RandomImages(32, seed: 4);
        foreach (int n in new[] { 1, 32 })
            foreach (WidthConfiguration c in OnnxTestModels.Configurations)
            {
                float[][] expected = model.Predict(images.AsSpan(0, n * OnnxTestModels.Size), n, c);
                float[][] actual = fast.Predict(images.AsSpan(0, n * OnnxTestModels.Size), n, c);
                for (int t = 0; t < expected.Length; t++)
                    Assert.IsTrue(MaxError(expected[t], actual[t]) <= Tolerance, $"{backbone} {c} batch {n} task {t}");
            }
        Assert.AreEqual(OnnxTestModels.Configurations.Length, fast.PreparedConfigurations.Count, "one session per configuration, reused");
        Assert.ThrowsExactly<ArgumentException>(() => fast.Predict(images.AsSpan(0, 5), 1, OnnxTestModels.Configurations[0]));
        Assert.ThrowsExactly<ArgumentException>(() => fast.Predict(images.AsSpan(0, OnnxTestModels.Size), 1, new WidthConfiguration(0.3, 1.0, 1.0)));
    }

    [TestMethod]
    public void WithOnnxRuntime_KeepsControl_AndGivesTheSameScoreColumns()
    {
        using ControllableMultiTaskModel model = OnnxTestModels.Model(OnnxTestModels.SmallConvNet(), seed: 10);
        var ml = new MLContext(seed: 1).AddMLNetSlim();
        IDataView data = Data(ml, OnnxTestModels.RandomImages(64, seed: 12));
        var torch = new ControllableMultiTaskTransformer(model, budget: Budget.FractionOfFull(0.5),
            taskWeights: new Dictionary<string, double> { ["shape"] = 0.3, ["size"] = 0.7 });
        ControllableMultiTaskTransformer fast = torch.WithOnnxRuntime();
        using var serving = (OnnxRuntimeMultiTaskModel)fast.Model;
        Assert.AreEqual(torch.Budget, fast.Budget);
        CollectionAssert.AreEquivalent(torch.TaskWeights.ToList(), fast.TaskWeights.ToList());
        Assert.AreEqual(torch.Configuration, fast.Configuration);
        foreach (double budget in new[] { 0.5, 0.2, 1.0 })
        {
            torch.Budget = fast.Budget = Budget.FractionOfFull(budget);
            Assert.AreEqual(torch.Configuration, fast.Configuration, $"budget {budget}: the same search");
            IDataView a = torch.Transform(data), b = fast.Transform(data);
            foreach (TaskDefinition t in model.Tasks)
            {
                float[] x = a.GetColumn<float[]>("Score." + t.Name).SelectMany(v => v).ToArray();
                float[] y = b.GetColumn<float[]>("Score." + t.Name).SelectMany(v => v).ToArray();
                Assert.IsTrue(MaxError(x, y) <= Tolerance, $"budget {budget} task {t.Name}");
                CollectionAssert.AreEqual(a.GetColumn<uint>("PredictedLabel." + t.Name).ToArray(), b.GetColumn<uint>("PredictedLabel." + t.Name).ToArray());
            }
        }
        Assert.AreEqual(3, serving.PreparedConfigurations.Count, "one export per configuration the control chose");

        // A zip saved from the ONNX Runtime transformer loads back into one.
        string path = Path.Combine(TestData.TempRoot, $"mlnetslim-ort-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(fast, data.Schema, path);
            var loaded = (ControllableMultiTaskTransformer)new MLContext(1).AddMLNetSlim().Model.LoadChecked(path, out _);
            using var loadedModel = (OnnxRuntimeMultiTaskModel)loaded.Model;
            Assert.AreEqual(fast.Configuration, loaded.Configuration);
            float[] before = fast.Transform(data).GetColumn<float[]>("Score.size").SelectMany(v => v).ToArray();
            float[] after = loaded.Transform(data).GetColumn<float[]>("Score.size").SelectMany(v => v).ToArray();
            Assert.IsTrue(MaxError(before, after) <= 1e-6);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void EncoderAndDecoderGraphs_ComposeToTheWholeConfiguration()
    {
        using ControllableMultiTaskModel model = OnnxTestModels.Model(OnnxTestModels.ResNet(), seed: 13);
        MultiTaskNetwork net = model.Network;
        const int n = 8;
        float[] images = OnnxTestModels.RandomImages(n, seed: 14);
        var c = new WidthConfiguration(0.5, 1.0, 0.25);
        int e = net.CostTable.EncoderOptionOf(c);
        using var encoder = new InferenceSession(MultiTaskOnnxExporter.EncoderOnly(net, e));
        using OrtValue input = OrtValue.CreateTensorValueFromMemory(images, new long[] { n, OnnxTestModels.Size });
        using IDisposableReadOnlyCollection<OrtValue> features = encoder.Run(new RunOptions(), new[] { "Features" }, new[] { input }, new[] { MultiTaskOnnxExporter.FeaturesName });
        (int ch, int h, int w) = net.EncoderOutputShape(e);
        CollectionAssert.AreEqual(new long[] { n, ch, h, w }, features.First().GetTensorTypeAndShape().Shape);
        float[][] expected = model.Predict(images, n, c);
        for (int t = 0; t < 2; t++)
        {
            using var decoder = new InferenceSession(MultiTaskOnnxExporter.DecoderOnly(net, t, e, net.DecoderWidths.IndexOf(c.DecoderWidths[t])));
            using IDisposableReadOnlyCollection<OrtValue> score = decoder.Run(new RunOptions(), new[] { MultiTaskOnnxExporter.FeaturesName }, new[] { features.First() },
                new[] { "Score." + model.Tasks[t].Name });
            Assert.IsTrue(MaxError(expected[t], score.First().GetTensorDataAsSpan<float>().ToArray()) <= Tolerance, $"task {t}");
        }
    }

    [TestMethod]
    public void MillisecondBudgets_UseTheFastPathsOwnLatencies()
    {
        using ControllableMultiTaskModel model = OnnxTestModels.Model(OnnxTestModels.SmallConvNet(), seed: 15);
        using var fast = new OnnxRuntimeMultiTaskModel(model, new OnnxRuntimeServingOptions { IntraOpThreads = 1 }, ownsModel: false);
        Assert.IsNull(fast.Latency);
        LatencyTable table = fast.MeasureLatency(repeats: 3);
        Assert.AreSame(table, fast.MeasureLatency(), "measured once");
        Assert.AreSame(table, fast.Latency);
        // No timing is asserted (the machine is shared): only that the search obeys the table it was given.
        WidthConfiguration full = model.Network.FullConfiguration, smallest = model.Network.SmallestConfiguration;
        double all = Math.Max(table.PredictMs(full), table.PredictMs(smallest)) * 100;
        Assert.AreEqual(full, fast.SelectConfiguration(Budget.Milliseconds(all), new[] { 1.0, 1.0 }).Widths, "every configuration fits: the best one");
        double tight = Math.Abs(table.PredictMs(smallest)) * 1.05;
        WidthConfiguration chosen = fast.SelectConfiguration(Budget.Milliseconds(tight), new[] { 1.0, 1.0 }).Widths;
        Assert.IsTrue(table.PredictMs(chosen) <= tight, $"{chosen}: {table.PredictMs(chosen):0.000} ms > {tight:0.000} ms");
        Assert.AreEqual(model.SelectConfiguration(Budget.FractionOfFull(0.4), new[] { 1.0, 1.0 }),
            fast.SelectConfiguration(Budget.FractionOfFull(0.4), new[] { 1.0, 1.0 }), "MAC budgets: the model's search");
    }

    private sealed class BudgetRow
    {
        public float[] Features { get; set; } = Array.Empty<float>();

        public float Budget { get; set; }
    }

    [TestMethod]
    public void PerRowBudgetColumn_WorksThroughTheFastPath()
    {
        using ControllableMultiTaskModel model = OnnxTestModels.Model(OnnxTestModels.SmallConvNet(), seed: 16);
        var ml = new MLContext(seed: 1).AddMLNetSlim();
        float[] images = OnnxTestModels.RandomImages(24, seed: 17);
        float[] budgets = { 1f, 0.3f, 0.6f };
        SchemaDefinition def = SchemaDefinition.Create(typeof(BudgetRow));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, OnnxTestModels.Size);
        IDataView data = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 24).Select(i => new BudgetRow
        {
            Features = images.AsSpan(i * OnnxTestModels.Size, OnnxTestModels.Size).ToArray(),
            Budget = budgets[i % 3],
        }), def);
        var torch = new ControllableMultiTaskTransformer(model);
        ControllableMultiTaskTransformer fast = torch.WithOnnxRuntime();
        using var serving = (OnnxRuntimeMultiTaskModel)fast.Model;
        Assert.AreEqual(torch.BudgetColumnName, fast.BudgetColumnName);
        foreach (TaskDefinition t in model.Tasks)
        {
            float[] x = torch.Transform(data).GetColumn<float[]>("Score." + t.Name).SelectMany(v => v).ToArray();
            float[] y = fast.Transform(data).GetColumn<float[]>("Score." + t.Name).SelectMany(v => v).ToArray();
            Assert.IsTrue(MaxError(x, y) <= Tolerance, t.Name);
        }
        Assert.IsTrue(serving.PreparedConfigurations.Count >= 2, "the per-row budgets chose several configurations");
    }
}
