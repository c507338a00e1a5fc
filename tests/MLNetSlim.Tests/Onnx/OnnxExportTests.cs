using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<float>;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Onnx;
using static TorchSharp.torch;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.Tests.Onnx;

[TestClass]
public class OnnxExportTests
{
    private const int Rows = 256;
    private const double Tolerance = 1e-4;

    public TestContext TestContext { get; set; } = null!;

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

    private static float[][] Column(IDataView view, string name) =>
        view.GetColumn<VBuffer<float>>(name).Select(v => v.DenseValues().ToArray()).ToArray();

    private static long[] LabelColumn(IDataView view, string name) =>
        view.GetColumn<VBuffer<long>>(name).Select(v => v.DenseValues().Single()).ToArray();

    /// <summary>Scores of ApplyOnnxModel on the exported file, per task.</summary>
    private static (float[][][] Scores, long[][] Labels) ApplyOnnx(MLContext ml, IDataView data, string onnxPath)
    {
        IDataView scored = ml.Transforms.ApplyOnnxModel(onnxPath).Fit(data).Transform(data);
        return (OnnxTestModels.Tasks.Select(t => Column(scored, "Score." + t.Name)).ToArray(),
            OnnxTestModels.Tasks.Select(t => LabelColumn(scored, "PredictedLabel." + t.Name)).ToArray());
    }

    private static double MaxError(float[][] expected, float[][] actual)
    {
        Assert.AreEqual(expected.Length, actual.Length);
        double max = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.AreEqual(expected[i].Length, actual[i].Length, $"row {i}: slot count");
            for (int k = 0; k < expected[i].Length; k++) max = Math.Max(max, Math.Abs(expected[i][k] - actual[i][k]));
        }
        return max;
    }

    private static int ArgMax(float[] p)
    {
        int best = 0;
        for (int i = 1; i < p.Length; i++) if (p[i] > p[best]) best = i;
        return best;
    }

    public static IEnumerable<object[]> Backbones => new[] { new object[] { "SmallConvNet" }, new object[] { "ResNet" } };

    private static BackboneOptions Backbone(string name) => name == "ResNet" ? OnnxTestModels.ResNet() : OnnxTestModels.SmallConvNet();

    [TestMethod]
    [DynamicData(nameof(Backbones))]
    public void ApplyOnnxModel_MatchesTheTorchSharpTransformer_AtFourConfigurations(string backbone)
    {
        using ControllableMultiTaskModel model = OnnxTestModels.Model(Backbone(backbone), seed: 5);
        var ml = new MLContext(seed: 1).AddMLNetSlim();
        float[] images = OnnxTestModels.RandomImages(Rows, seed: 99);
        IDataView data = Data(ml, images);
        var transformer = new ControllableMultiTaskTransformer(model);
        string dir = Path.Combine(TestData.TempRoot, "mlnetslim-onnx-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            foreach (WidthConfiguration c in OnnxTestModels.Configurations)
            {
                string path = Path.Combine(dir, $"model-{OnnxTestModels.Configurations.ToList().IndexOf(c)}.onnx");
                ml.Model.ExportToOnnx(transformer, path, c);
                (float[][][] onnx, long[][] labels) = ApplyOnnx(ml, data, path);
                float[][] torch = model.Predict(images, Rows, c);
                for (int t = 0; t < OnnxTestModels.Tasks.Length; t++)
                {
                    int k = OnnxTestModels.Tasks[t].NumClasses;
                    float[][] expected = Enumerable.Range(0, Rows).Select(i => torch[t].AsSpan(i * k, k).ToArray()).ToArray();
                    double err = MaxError(expected, onnx[t]);
                    TestContext.WriteLine($"{backbone} {c} task {OnnxTestModels.Tasks[t].Name}: max |p_onnx - p_torch| = {err:E2}");
                    Assert.IsTrue(err <= Tolerance, $"{backbone} {c} task {t}: max error {err:E3}");
                    for (int i = 0; i < Rows; i++) Assert.AreEqual(ArgMax(onnx[t][i]), labels[t][i], $"row {i}: PredictedLabel is the 0-based arg-max");
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    [DynamicData(nameof(Backbones))]
    public void DefaultExport_IsTheTransformersCurrentConfiguration_AndMatchesItsScoreColumns(string backbone)
    {
        using ControllableMultiTaskModel model = OnnxTestModels.Model(Backbone(backbone), seed: 6);
        var ml = new MLContext(seed: 1).AddMLNetSlim();
        float[] images = OnnxTestModels.RandomImages(Rows, seed: 98);
        IDataView data = Data(ml, images);
        var transformer = new ControllableMultiTaskTransformer(model, budget: Budget.FractionOfFull(0.4),
            taskWeights: new Dictionary<string, double> { ["shape"] = 0.9, ["size"] = 0.1 });
        Assert.AreNotEqual(model.Network.FullConfiguration, transformer.Configuration, "the budget must select a smaller configuration");
        ITransformer chain = new TransformerChain<ITransformer>(transformer);
        string path = Path.Combine(TestData.TempRoot, $"mlnetslim-onnx-{Guid.NewGuid():N}.onnx");
        try
        {
            ml.Model.ExportToOnnx(chain, path);
            using (var session = new InferenceSession(path))
                Assert.AreEqual(transformer.Configuration.ToString(), session.ModelMetadata.CustomMetadataMap[MultiTaskOnnxExporter.ConfigurationMetadataKey]);
            (float[][][] onnx, _) = ApplyOnnx(ml, data, path);
            IDataView scored = transformer.Transform(data);
            for (int t = 0; t < OnnxTestModels.Tasks.Length; t++)
            {
                double err = MaxError(Column(scored, "Score." + OnnxTestModels.Tasks[t].Name), onnx[t]);
                TestContext.WriteLine($"{backbone} {transformer.Configuration} task {OnnxTestModels.Tasks[t].Name}: max error {err:E2}");
                Assert.IsTrue(err <= Tolerance, $"task {t}: max error {err:E3}");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void PerPixelTask_ExportsBilinearUpsamplingAndPerPixelSoftmax()
    {
        var tasks = new[] { new TaskDefinition("label", TaskKind.Classification, 3), new TaskDefinition("mask", TaskKind.Segmentation, 4) };
        using MultiTaskNetwork network = OnnxTestModels.Network(OnnxTestModels.SmallConvNet(), seed: 8, tasks);
        var c = new WidthConfiguration(0.5, 0.75, 0.25);
        using var ms = new MemoryStream();
        MultiTaskOnnxExporter.Export(network, c, ms);
        const int n = 16;
        float[] images = OnnxTestModels.RandomImages(n, seed: 3);
        using var session = new InferenceSession(ms.ToArray());
        var input = new DenseTensor(images, new[] { n, OnnxTestModels.Size });
        using var results = session.Run(new[] { NamedOnnxValue.CreateFromTensor("Features", input) });
        float[] mask = results.Single(r => r.Name == "Score.mask").AsTensor<float>().ToArray();
        long[] maskLabel = results.Single(r => r.Name == "PredictedLabel.mask").AsTensor<long>().ToArray();
        using var noGrad = no_grad();
        using var x = tensor(images, new long[] { n, OnnxTestModels.C, OnnxTestModels.H, OnnxTestModels.W });
        using MultiTaskOutput output = network.forward(x, c);
        using Tensor p = nn.functional.softmax(output.TaskOutputs[1], 1);
        float[] expected = p.data<float>().ToArray();
        CollectionAssert.AreEqual(new long[] { n, 4, OnnxTestModels.H, OnnxTestModels.W }, p.shape);
        Assert.AreEqual(expected.Length, mask.Length);
        double err = expected.Zip(mask, (a, b) => Math.Abs(a - b)).Max();
        TestContext.WriteLine($"per-pixel task {c}: max error {err:E2}");
        Assert.IsTrue(err <= Tolerance, $"max error {err:E3}");
        using Tensor argmax = output.TaskOutputs[1].argmax(1);
        CollectionAssert.AreEqual(argmax.data<long>().ToArray(), maskLabel);
    }

    [TestMethod]
    public void Export_RejectsAConfigurationOutsideTheWidthSet_AndAModelWithoutAControllableTransformer()
    {
        using ControllableMultiTaskModel model = OnnxTestModels.Model(OnnxTestModels.SmallConvNet(), seed: 2);
        var ml = new MLContext(seed: 1);
        var transformer = new ControllableMultiTaskTransformer(model);
        var e = Assert.ThrowsExactly<ArgumentException>(() => ml.Model.ExportToOnnx(transformer, new MemoryStream(), new WidthConfiguration(0.3, 1.0, 1.0)));
        StringAssert.Contains(e.Message, "0.3");
        var chain = new TransformerChain<ITransformer>();
        var e2 = Assert.ThrowsExactly<ArgumentException>(() => ml.Model.ExportToOnnx(chain, new MemoryStream()));
        StringAssert.Contains(e2.Message, "ControllableMultiTaskTransformer");
    }
}
