using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetSlim.Architecture;
using MLNetSlim.Datasets;
using MLNetSlim.MLNet;
using MLNetSlim.Tests.Datasets;
using MLNetSlim.Tests.Samples;

namespace MLNetSlim.Tests.EndToEnd;

/// <summary>NYUD-v2 and PASCAL-Context through ML.NET on fixtures in the real on-disk layouts: the loader's view,
/// LoadImages / ResizeImages / ExtractPixels into Features, the loader's label columns as per-pixel labels, the estimator
/// (one epoch, tiny images), prediction and save/load; and the demo's <c>nyud</c> and <c>pascal-context</c> commands end
/// to end.</summary>
[TestClass]
public class DenseBenchmarkTests
{
    private const int H = 16, W = 16;

    public TestContext TestContext { get; set; } = null!;

    private static ControllableMultiTaskEstimator.Options Options(IEnumerable<TaskDefinition> tasks)
    {
        var options = new ControllableMultiTaskEstimator.Options
        {
            ImageChannels = 3,
            ImageHeight = H,
            ImageWidth = W,
            Epochs = 1,
            BatchSize = 2,
            StageChannels = [8, 8, 8],
            PyramidChannels = 8,
            ValidationFraction = 0.25,
            Seed = 2,
        };
        options.Tasks.AddRange(tasks.Select(t => new ControllableMultiTaskEstimator.TaskColumn(t.Name)
        {
            Kind = t.Kind,
            NumClasses = t.Kind == TaskKind.Segmentation ? t.NumClasses : null,
            IgnoreValue = t.IgnoreValue,
        }));
        return options;
    }

    public static IEnumerable<object[]> Benchmarks => [["nyud"], ["pascal-context"]];

    [TestMethod]
    [DynamicData(nameof(Benchmarks))]
    public void LoaderView_ImagePipeline_Estimator_PredictsPerPixelColumns_AndRoundTripsThroughSaveLoad(string benchmark)
    {
        string root = benchmark == "nyud" ? DenseFixtures.Nyud(8, 2, 20, 24) : DenseFixtures.Pascal(8, 2, 20, 24);
        string zip = Path.Combine(root, "model.zip");
        try
        {
            IReadOnlyList<TaskDefinition> tasks = benchmark == "nyud" ? NyudV2.Tasks : PascalContext.Tasks;
            IDataView train = benchmark == "nyud" ? NyudV2.LoadDataView(root, "train", H, W) : PascalContext.LoadDataView(root, "train", H, W);
            IDataView val = benchmark == "nyud" ? NyudV2.LoadDataView(root, "val", H, W) : PascalContext.LoadDataView(root, "val", H, W);
            var ml = new MLContext(seed: 1);
            var pipeline = ml.Transforms.LoadImages("Image", imageFolder: null, NyudV2.ImagePathColumn)
                .Append(ml.Transforms.ResizeImages("Image", W, H, resizing: ImageResizingEstimator.ResizingKind.Fill))
                .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255))
                .Append(ml.MulticlassClassification.Trainers.ControllableMultiTask(Options(tasks)));
            ITransformer model = pipeline.Fit(train);
            ControllableMultiTaskTransformer slim = model.GetControllableMultiTaskTransformer();
            CollectionAssert.AreEqual(tasks.Select(t => t.Kind).ToArray(), slim.Tasks.Select(t => t.Kind).ToArray());

            IDataView scored = model.Transform(val);
            DataViewSchema s = scored.Schema;
            int pixels = H * W;
            foreach (TaskDefinition t in tasks)
            {
                int channels = t.Kind switch { TaskKind.Segmentation => t.NumClasses, TaskKind.Normals => 3, _ => 1 };
                var type = (VectorDataViewType)s[ControllableMultiTaskTransformer.ScoreColumnName(t.Name)].Type;
                Assert.AreEqual(channels * pixels, type.Size, $"Score.{t.Name}");
                float[][] values = scored.GetColumn<float[]>(ControllableMultiTaskTransformer.ScoreColumnName(t.Name)).ToArray();
                Assert.AreEqual(2, values.Length, t.Name);
                Assert.IsTrue(values.All(v => v.Length == channels * pixels && v.All(float.IsFinite)), $"{t.Name}: finite values of the column's size");
                DataViewSchema.Column? label = s.GetColumnOrNull(ControllableMultiTaskTransformer.PredictedLabelColumnName(t.Name));
                if (t.Kind == TaskKind.Segmentation)
                {
                    Assert.AreEqual(pixels, ((VectorDataViewType)label!.Value.Type).Size, $"PredictedLabel.{t.Name}");
                    Assert.IsTrue(scored.GetColumn<uint[]>(label.Value.Name).All(v => v.Length == pixels && v.All(c => c < t.NumClasses)), t.Name);
                }
                else Assert.IsNull(label, $"{t.Name} ({t.Kind}) has no predicted-label column");
            }

            // Save with the loader's schema, load into a fresh context: the same scores at the full network and at a budget.
            ml.Model.SaveAtomic(model, train.Schema, zip);
            var ml2 = new MLContext(seed: 5).AddMLNetSlim();
            ITransformer loaded = ml2.Model.Load(zip, out DataViewSchema inputSchema);
            CollectionAssert.AreEqual(train.Schema.Select(c => c.Name).ToArray(), inputSchema.Select(c => c.Name).ToArray());
            foreach (double budget in new[] { 1.0, 0.5 })
            {
                slim.Budget = MLNetSlim.Control.Budget.FractionOfFull(budget);
                ControllableMultiTaskTransformer slim2 = loaded.GetControllableMultiTaskTransformer();
                slim2.Budget = MLNetSlim.Control.Budget.FractionOfFull(budget);
                Assert.AreEqual(slim.Configuration, slim2.Configuration, $"budget {budget}");
                IDataView a = model.Transform(val), b = loaded.Transform(val);
                foreach (TaskDefinition t in tasks)
                {
                    string col = ControllableMultiTaskTransformer.ScoreColumnName(t.Name);
                    float[] x = a.GetColumn<float[]>(col).SelectMany(v => v).ToArray(), y = b.GetColumn<float[]>(col).SelectMany(v => v).ToArray();
                    Assert.AreEqual(x.Length, y.Length);
                    for (int i = 0; i < x.Length; i++) Assert.AreEqual(x[i], y[i], 1e-5, $"{t.Name} slot {i} budget {budget}");
                }
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [TestMethod]
    [DynamicData(nameof(Benchmarks))]
    public async Task DemoCommand_TrainsEveryTask_ReportsTheStandardMetrics_AndSavesAModelThatLoads(string benchmark)
    {
        string root = benchmark == "nyud" ? DenseFixtures.Nyud(8, 3, 20, 24) : DenseFixtures.Pascal(8, 3, 20, 24);
        string outDir = Path.Combine(root, "out");
        try
        {
            ProcessResult r = await SampleProcess.RunSampleAsync("MLNetSlim.Demo",
                [benchmark, "--data", root, "--device", "cpu", "--backbone", "small", "--epochs", "1", "--batch-size", "2", "--height", H.ToString(System.Globalization.CultureInfo.InvariantCulture),
                 "--width", W.ToString(System.Globalization.CultureInfo.InvariantCulture), "--validation-fraction", "0.25", "--preference-vectors", "5", "--out", outDir],
                timeout: TimeSpan.FromMinutes(2));
            Assert.AreEqual(0, r.ExitCode, r.ToString());

            using JsonDocument report = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
            JsonElement root2 = report.RootElement;
            Assert.AreEqual(8, root2.GetProperty("trainRows").GetInt32());
            Assert.AreEqual(3, root2.GetProperty("valRows").GetInt32());
            var expected = new Dictionary<string, string[]>(benchmark == "nyud"
                ? new Dictionary<string, string[]> { ["semseg"] = ["mIoU"], ["depth"] = ["RMSE"], ["normals"] = ["meanAngleError"], ["edge"] = ["F", "maxF"] }
                : new Dictionary<string, string[]> { ["semseg"] = ["mIoU"], ["human_parts"] = ["mIoU"], ["sal"] = ["maxF"], ["normals"] = ["meanAngleError"], ["edge"] = ["F", "maxF"] });
            CollectionAssert.AreEqual(expected.Keys.ToArray(), root2.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToArray());
            JsonElement[] configurations = root2.GetProperty("configurations").EnumerateArray().ToArray();
            CollectionAssert.AreEqual(new[] { "full", "smallest" }, configurations.Select(c => c.GetProperty("name").GetString()).ToArray());
            Assert.AreEqual(1.0, configurations[0].GetProperty("fractionOfFull").GetDouble(), 1e-12);
            Assert.IsTrue(configurations[1].GetProperty("fractionOfFull").GetDouble() < 0.5, "the smallest configuration costs less than half the full one");
            foreach (JsonElement c in configurations)
                foreach ((string task, string[] metrics) in expected)
                    foreach (string m in metrics)
                    {
                        double v = c.GetProperty("metrics").GetProperty(task).GetProperty(m).GetDouble();
                        Assert.IsTrue(double.IsFinite(v) && v >= 0, $"{c.GetProperty("name").GetString()} {task} {m} = {v}");
                        if (m is "mIoU" or "F" or "maxF") Assert.IsTrue(v <= 1, $"{task} {m} = {v} is a fraction");
                        if (m == "meanAngleError") Assert.IsTrue(v <= 180, $"{task} {m} = {v} degrees");
                    }
            JsonElement controllability = root2.GetProperty("controllability");
            CollectionAssert.AreEqual(new[] { 0.3, 0.5, 0.7 }, controllability.GetProperty("budgets").EnumerateArray().Select(b => b.GetDouble()).ToArray());
            Assert.AreEqual(5, controllability.GetProperty("preferenceVectors").GetInt32());
            StringAssert.Contains(File.ReadAllText(Path.Combine(outDir, "report.md")), "mIoU");

            // The saved model takes Features as ML.NET's ExtractPixels writes them: it loads and scores the val split
            // through LoadImages / ResizeImages / ExtractPixels.
            var ml = new MLContext(seed: 1).AddMLNetSlim();
            ITransformer model = ml.Model.Load(Path.Combine(outDir, "model.zip"), out DataViewSchema input);
            CollectionAssert.AreEqual(new[] { 3, H, W }, ((VectorDataViewType)input["Features"].Type).Dimensions.ToArray());
            IDataView val = benchmark == "nyud" ? NyudV2.LoadDataView(root, "val", H, W) : PascalContext.LoadDataView(root, "val", H, W);
            IDataView features = ml.Transforms.LoadImages("Image", imageFolder: null, NyudV2.ImagePathColumn)
                .Append(ml.Transforms.ResizeImages("Image", W, H, resizing: ImageResizingEstimator.ResizingKind.Fill))
                .Append(ml.Transforms.ExtractPixels("Features", "Image", scaleImage: 1f / 255)).Fit(val).Transform(val);
            float[][] semseg = model.Transform(features).GetColumn<float[]>("Score.semseg").ToArray();
            Assert.AreEqual(3, semseg.Length);
            Assert.IsTrue(semseg.All(v => v.Length == (benchmark == "nyud" ? 40 : 21) * H * W));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [TestMethod]
    public async Task DemoCommand_MissingSplitList_IsAnErrorNamingTheFile()
    {
        string root = DenseFixtures.Nyud(2, 1, 8, 8);
        try
        {
            File.Delete(Path.Combine(root, "gt_sets", "val.txt"));
            ProcessResult r = await SampleProcess.RunSampleAsync("MLNetSlim.Demo", ["nyud", "--data", root, "--height", "8", "--width", "8", "--out", Path.Combine(root, "out")]);
            Assert.AreEqual(1, r.ExitCode, r.ToString());
            StringAssert.Contains(r.Output, "Error:", r.ToString());
            StringAssert.Contains(r.Output, Path.Combine(root, "gt_sets", "val.txt"), r.ToString());
            Assert.IsFalse((r.Output + r.Error).Contains("   at ", StringComparison.Ordinal), r.ToString());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
