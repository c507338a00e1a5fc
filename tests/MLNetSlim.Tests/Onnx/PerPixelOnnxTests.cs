using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Network;
using MLNetSlim.Onnx;
using MLNetSlim.Serving;

namespace MLNetSlim.Tests.Onnx;

/// <summary>
/// Per-pixel models (segmentation, depth, edges, normals and a per-image class) through ONNX Runtime: the exported
/// graphs give the TorchSharp model's outputs (softmax, values, unit vectors, sigmoid), the transformer's default path
/// (ONNX Runtime) gives the TorchSharp path's columns, and a serving bundle serves the same columns without TorchSharp
/// code in the forward pass.
/// </summary>
[TestClass]
public class PerPixelOnnxTests
{
    private const double Tolerance = 1e-4;
    private const int Rows = 16;

    public TestContext TestContext { get; set; } = null!;

    private static readonly TaskDefinition[] Tasks =
    [
        new("seg", TaskKind.Segmentation, 4),
        new("depth", TaskKind.Depth, 1),
        new("edges", TaskKind.Edges, 1),
        new("normals", TaskKind.Normals, 3),
        new("label", TaskKind.Classification, 3, ["a", "b", "c"]),
    ];

    private static ControllableMultiTaskModel Model(int seed)
    {
        MultiTaskNetwork network = OnnxTestModels.Network(OnnxTestModels.SmallConvNet(), seed, Tasks);
        // Made-up calibration, better with width; depth's metric (RMSE) is lower-is-better.
        CalibrationTable calibration = CalibrationTable.Calibrate(network.CostTable, Tasks.Select(t => t.Kind != TaskKind.Depth && t.Kind != TaskKind.Normals).ToArray(),
            (e, d) => Tasks.Select((t, i) => t.Kind is TaskKind.Depth or TaskKind.Normals ? 2.0 - 0.1 * e - 0.05 * d - 0.01 * i : 0.4 + 0.1 * e + 0.05 * d + 0.01 * i).ToArray());
        return ControllableMultiTaskModel.FromNetwork(network, calibration);
    }

    private sealed class Row
    {
        public float[] Features { get; set; } = [];
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

    private static float[] Scores(IDataView scored, string task) =>
        scored.GetColumn<VBuffer<float>>("Score." + task).SelectMany(v => v.DenseValues()).ToArray();

    private static uint[] SegLabels(IDataView scored) =>
        scored.GetColumn<VBuffer<uint>>("PredictedLabel.seg").SelectMany(v => v.DenseValues()).ToArray();

    /// <summary>Per-pixel arg-max of (N, K, H, W) scores, per image and pixel.</summary>
    private static uint[] ArgMax(float[] scores, int k)
    {
        int pixels = OnnxTestModels.H * OnnxTestModels.W, n = scores.Length / (k * pixels);
        var labels = new uint[n * pixels];
        for (int i = 0; i < n; i++)
            for (int p = 0; p < pixels; p++)
            {
                int best = 0;
                for (int c = 1; c < k; c++)
                    if (scores[(i * k + c) * pixels + p] > scores[(i * k + best) * pixels + p]) best = c;
                labels[i * pixels + p] = (uint)best;
            }
        return labels;
    }

    [TestMethod]
    public void OnnxRuntime_EqualsTheTorchSharpModel_ForEveryTaskKind_AtFourConfigurations()
    {
        using ControllableMultiTaskModel model = Model(seed: 31);
        using var fast = new OnnxRuntimeMultiTaskModel(model, new OnnxRuntimeServingOptions { IntraOpThreads = 1 }, ownsModel: false);
        float[] images = OnnxTestModels.RandomImages(Rows, seed: 32);
        WidthConfiguration[] configurations =
            [WidthConfiguration.Uniform(1.0, Tasks.Length), WidthConfiguration.Uniform(0.25, Tasks.Length),
             new(0.5, 1.0, 0.25, 0.75, 0.5, 1.0), new(0.75, 0.25, 1.0, 0.5, 0.25, 0.5)];
        foreach (WidthConfiguration c in configurations)
        {
            float[][] torch = model.Predict(images, Rows, c), onnx = fast.Predict(images, Rows, c);
            for (int t = 0; t < Tasks.Length; t++)
            {
                Assert.AreEqual(Rows * (Tasks[t].IsPerPixel ? Tasks[t].OutputChannels * OnnxTestModels.H * OnnxTestModels.W : Tasks[t].NumClasses), onnx[t].Length, $"{c} {Tasks[t].Name}: size");
                double err = MaxError(torch[t], onnx[t]);
                TestContext.WriteLine($"{c} {Tasks[t].Name} ({Tasks[t].Kind}): max |onnx - torch| = {err:E2}");
                Assert.IsTrue(err <= Tolerance, $"{c} {Tasks[t].Name}: max error {err:E3}");
            }
            // Normals are unit vectors, edges probabilities: the activation is the model's, not a softmax.
            int pixels = OnnxTestModels.H * OnnxTestModels.W;
            for (int p = 0; p < pixels; p++)
            {
                double norm = Math.Sqrt(Enumerable.Range(0, 3).Sum(ch => Math.Pow(onnx[3][ch * pixels + p], 2)));
                Assert.AreEqual(1.0, norm, 1e-4, $"{c}: normal at pixel {p}");
            }
            Assert.IsTrue(onnx[2].All(v => v is >= 0 and <= 1) && onnx[2].Any(v => v < 0.99f), $"{c}: edges are sigmoid probabilities (a softmax over one channel would be 1 everywhere)");
            Assert.IsTrue(onnx[1].Any(v => v < 0) || onnx[1].Any(v => v > 1), $"{c}: depth is the raw value, no activation");
        }
    }

    [TestMethod]
    public void TransformerDefaultPath_IsOnnxRuntime_AndMatchesTheTorchSharpPath_ForPerPixelColumns()
    {
        using ControllableMultiTaskModel model = Model(seed: 33);
        var ml = new MLContext(seed: 1).AddMLNetSlim();
        IDataView data = Data(ml, OnnxTestModels.RandomImages(Rows, seed: 34));
        var ort = new ControllableMultiTaskTransformer(model) { BatchSize = 5 };
        var torch = new ControllableMultiTaskTransformer(model) { BatchSize = 5, UseOnnxRuntime = false };
        StringAssert.StartsWith(ort.InferencePath, "ONNX Runtime");
        Assert.AreEqual("TorchSharp (UseOnnxRuntime is false)", torch.InferencePath);
        foreach (double budget in new[] { 1.0, 0.4 })
        {
            ort.Budget = torch.Budget = Budget.FractionOfFull(budget);
            IDataView a = ort.Transform(data), b = torch.Transform(data);
            Assert.AreEqual(a.Schema["Score.seg"].Type, b.Schema["Score.seg"].Type);
            foreach (TaskDefinition t in Tasks)
            {
                double err = MaxError(Scores(b, t.Name), Scores(a, t.Name));
                TestContext.WriteLine($"budget {budget} {ort.Configuration} {t.Name}: max |ort - torch| = {err:E2}");
                Assert.IsTrue(err <= Tolerance, $"budget {budget} {t.Name}: {err:E3}");
            }
            CollectionAssert.AreEqual(ArgMax(Scores(a, "seg"), 4), SegLabels(a), "PredictedLabel.seg is the arg-max of Score.seg");
            CollectionAssert.AreEqual(a.GetColumn<uint>("PredictedLabel.label").ToArray(), b.GetColumn<uint>("PredictedLabel.label").ToArray());
        }
        // The prediction engine takes the same path.
        float[] first = Scores(torch.Transform(data), "depth").Take(OnnxTestModels.H * OnnxTestModels.W).ToArray();
        SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, OnnxTestModels.Size);
        IDataView firstRow = ml.Data.TakeRows(data, 1);
        using var engine = ml.Model.CreatePredictionEngine<Row, DepthOutput>(ort, inputSchemaDefinition: def);
        float[] image = firstRow.GetColumn<float[]>("Features").Single();
        Assert.IsTrue(MaxError(first, engine.Predict(new Row { Features = image }).Depth) <= Tolerance);
    }

    private sealed class DepthOutput
    {
        [ColumnName("Score.depth")]
        public float[] Depth { get; set; } = [];
    }

    [TestMethod]
    public void ServingBundle_ServesPerPixelModels_WithTheTransformersColumns_AndMillisecondBudgets()
    {
        using ControllableMultiTaskModel model = Model(seed: 35);
        var ml = new MLContext(seed: 1).AddMLNetSlim();
        IDataView data = Data(ml, OnnxTestModels.RandomImages(Rows, seed: 36));
        var torch = new ControllableMultiTaskTransformer(model) { UseOnnxRuntime = false };
        string path = Path.Combine(TestData.TempRoot, $"mlnetslim-perpixel-{Guid.NewGuid():N}.mlnsbundle");
        WidthConfiguration full = WidthConfiguration.Uniform(1.0, Tasks.Length), smallest = WidthConfiguration.Uniform(0.25, Tasks.Length);
        try
        {
            ml.Model.ExportServingBundle(torch, path, [full, smallest]);
            using ServingMultiTaskModel served = ServingMultiTaskModel.Load(path);
            Assert.IsNotNull(served.Bundle.Latency, "the bundle carries the latency table measured at export");
            StringAssert.Contains(served.Bundle.Latency.Machine, "logical cores");
            var serving = new ServingMultiTaskTransformer(served) { BatchSize = 3 };
            foreach (WidthConfiguration c in new[] { full, smallest })
            {
                // The configuration's own MACs as a fraction (a hair above, so rounding cannot push it out of its budget).
                double fraction = Math.Min(1.0, (double)model.Costs.Resolve(c).Macs / model.Costs.FullMacs * (1 + 1e-9));
                torch.Budget = serving.Budget = Budget.FractionOfFull(fraction);
                Assert.AreEqual(c, serving.Configuration);
                Assert.AreEqual(torch.Configuration, serving.Configuration);
                IDataView a = torch.Transform(data), b = serving.Transform(data);
                foreach (DataViewSchema.Column col in a.Schema.Skip(data.Schema.Count))
                    Assert.AreEqual(col.Type, b.Schema[col.Name].Type, $"column {col.Name}");
                Assert.AreEqual(a.Schema.Count, b.Schema.Count);
                foreach (TaskDefinition t in Tasks)
                {
                    double err = MaxError(Scores(a, t.Name), Scores(b, t.Name));
                    Assert.IsTrue(err <= Tolerance, $"{c} {t.Name}: {err:E3}");
                }
                CollectionAssert.AreEqual(ArgMax(Scores(b, "seg"), 4), SegLabels(b));
            }
            // Millisecond budgets choose by the bundle's latency table, within the bundle's configurations.
            LatencyTable latency = served.Bundle.Latency.Table;
            double fast = latency.PredictMs(smallest), slow = latency.PredictMs(full);
            serving.Budget = Budget.Milliseconds(Math.Max(fast, slow) * 2);
            Assert.AreEqual(Math.Max(fast, slow) * 2, serving.Budget.Value);
            Assert.IsTrue(latency.PredictMs(serving.Configuration) <= serving.Budget.Value);
            var e = Assert.ThrowsExactly<BudgetInfeasibleException>(() => serving.Budget = Budget.Milliseconds(Math.Min(fast, slow) / 2));
            Assert.AreEqual(BudgetUnit.Milliseconds, e.SmallestFeasible.Unit);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
