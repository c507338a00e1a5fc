using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using static MLNetSlim.Tests.MLNet.DenseTestData;

namespace MLNetSlim.Tests.MLNet;

/// <summary>Per-pixel tasks through ML.NET (issue 11): the estimator trains segmentation, depth, edges and a per-image
/// task from label-map columns; the transformer's per-pixel columns; PredictionEngine; save, load in a fresh process,
/// steering by Budget and TaskWeights; LoadLabelMaps.</summary>
[TestClass]
public class PerPixelTests
{
    public TestContext TestContext { get; set; } = null!;

    private static readonly Lazy<(MLContext Ml, ControllableMultiTaskTransformer Model)> Trained = new(() =>
    {
        var ml = new MLContext(seed: 1);
        IDataView data = View(ml, Rows(48));
        return (ml, ml.MulticlassClassification.Trainers.ControllableMultiTask(Options()).Fit(data));
    });

    private static float[][] Column(IDataView v, string name) => v.GetColumn<float[]>(name).ToArray();

    [TestMethod]
    public void EvaluatePerPixel_EqualsTheCoreMetrics_AndClassificationTasksGetMLNetsMetrics()
    {
        (MLContext ml, ControllableMultiTaskTransformer t) = Trained.Value;
        t.SetControl(Budget.Full, t.Tasks.ToDictionary(x => x.Name, _ => 1.0));
        IDataView data = View(ml, Rows(40, seed: 11));
        // The core computation below runs the TorchSharp forward; score on the same path so that the test compares the
        // evaluators, not ONNX Runtime's float rounding (the default path agrees within 1e-4, PerPixelOnnxTests).
        bool onnxRuntime = t.UseOnnxRuntime;
        t.UseOnnxRuntime = false;
        try
        {
            EvaluatePerPixel_OnTheTorchSharpPath(ml, t, data);
        }
        finally
        {
            t.UseOnnxRuntime = onnxRuntime;
        }
    }

    private static void EvaluatePerPixel_OnTheTorchSharpPath(MLContext ml, ControllableMultiTaskTransformer t, IDataView data)
    {
        IDataView scored = t.Transform(data);
        IReadOnlyDictionary<string, PerPixelMetrics> dense = ml.MulticlassClassification.EvaluatePerPixel(scored, t);
        CollectionAssert.AreEqual(new[] { "seg", "depth", "edges" }, dense.Keys.ToArray());

        // The core computation (the calibration table's TaskMetrics) on the network's outputs at the same configuration.
        var model = (MLNetSlim.Model.ControllableMultiTaskModel)t.Model;
        TaskDefinition[] tasks = DataViewConversion.ResolveTasks(data.Schema, Options());
        var batches = new DataViewBatches(data, Options(), tasks, 40, 1);
        MLNetSlim.Evaluation.TaskMetrics[] core = MLNetSlim.Evaluation.NetworkEvaluator.Metrics(model.Network, batches, t.Configuration);
        void Same(double expected, double actual, string what) => Assert.AreEqual(expected, actual, 1e-9, what);
        Same(core[0].All["mIoU"], dense["seg"].MeanIoU, "seg mIoU");
        Same(core[0].All["pixelAccuracy"], dense["seg"].PixelAccuracy, "seg pixel accuracy");
        Same(core[1].All["RMSE"], dense["depth"].Rmse, "depth RMSE");
        Same(core[1].All["absRel"], dense["depth"].AbsRel, "depth abs-rel");
        Same(core[1].All["delta1.25"], dense["depth"].Delta1, "depth delta < 1.25");
        Same(core[2].All["F"], dense["edges"].F, "edges F");
        Same(core[2].All["maxF"], dense["edges"].MaxF, "edges max F");
        Same(core[0].Primary, dense["seg"].Primary, "primary");
        Assert.AreEqual(40L * Pixels, dense["edges"].Pixels);
        Assert.IsTrue(double.IsNaN(dense["seg"].Rmse) && double.IsNaN(dense["depth"].MeanIoU), "metrics of other kinds are NaN");

        // Classification tasks: ML.NET's own metrics, per-pixel tasks left out.
        IReadOnlyDictionary<string, MulticlassClassificationMetrics> classes = ml.MulticlassClassification.EvaluateControllableMultiTask(scored, t);
        CollectionAssert.AreEqual(new[] { "front" }, classes.Keys.ToArray());
        Same(core[3].Primary, classes["front"].MicroAccuracy, "front accuracy");

        // The sweep gives both per point.
        ControllabilityEvaluation sweep = ml.MulticlassClassification.EvaluateControllability(data, t, [Budget.Full],
            [new Dictionary<string, double> { ["seg"] = 1, ["depth"] = 1, ["edges"] = 1, ["front"] = 1 }]);
        Assert.AreEqual(dense["depth"].Rmse, sweep.Points[0].PerPixelMetrics["depth"].Rmse, 1e-9);
        Assert.AreEqual(classes["front"].MicroAccuracy, sweep.Points[0].Metrics["front"].MicroAccuracy, 1e-12);
    }

    [TestMethod]
    public void Fit_TrainsPerPixelTasks_OutputColumnsHaveTheDocumentedLayout()
    {
        (MLContext ml, ControllableMultiTaskTransformer t) = Trained.Value;
        CollectionAssert.AreEqual(new[] { TaskKind.Segmentation, TaskKind.Depth, TaskKind.Edges, TaskKind.Classification }, t.Tasks.Select(x => x.Kind).ToArray());
        Assert.AreEqual(255.0, t.Tasks[0].IgnoreValue);
        IDataView scored = t.Transform(View(ml, Rows(6, seed: 9)));
        DataViewSchema s = scored.Schema;
        var seg = (VectorDataViewType)s["Score.seg"].Type;
        CollectionAssert.AreEqual(new[] { 3, H, W }, seg.Dimensions.ToArray());
        Assert.AreEqual(NumberDataViewType.Single, seg.ItemType);
        var segLabel = (VectorDataViewType)s["PredictedLabel.seg"].Type;
        Assert.AreEqual(NumberDataViewType.UInt32, segLabel.ItemType);
        Assert.AreEqual(Pixels, segLabel.Size);
        Assert.AreEqual(Pixels, ((VectorDataViewType)s["Score.depth"].Type).Size);
        Assert.AreEqual(Pixels, ((VectorDataViewType)s["Score.edges"].Type).Size);
        Assert.IsNull(s.GetColumnOrNull("PredictedLabel.depth"));
        Assert.IsNull(s.GetColumnOrNull("PredictedLabel.edges"));
        Assert.AreEqual(2, ((VectorDataViewType)s["Score.front"].Type).Size);
        Assert.IsInstanceOfType<KeyDataViewType>(s["PredictedLabel.front"].Type);

        // Segmentation: K probabilities per pixel summing to 1; the predicted class is the per-pixel arg-max.
        float[][] probs = Column(scored, "Score.seg");
        uint[][] classes = scored.GetColumn<uint[]>("PredictedLabel.seg").ToArray();
        float[][] edges = Column(scored, "Score.edges");
        for (int r = 0; r < probs.Length; r++)
            for (int p = 0; p < Pixels; p++)
            {
                float a = probs[r][p], b = probs[r][Pixels + p], c = probs[r][2 * Pixels + p];
                Assert.AreEqual(1.0, a + b + c, 1e-5);
                uint best = a >= b && a >= c ? 0u : b >= c ? 1u : 2u;
                Assert.AreEqual(best, classes[r][p], $"row {r} pixel {p}");
                Assert.IsTrue(edges[r][p] is >= 0 and <= 1, "edge probabilities");
            }

        // The estimator's schema shape agrees with the transformer's schema.
        SchemaShape shape = ml.MulticlassClassification.Trainers.ControllableMultiTask(Options()).GetOutputSchema(MLNetInternals.ToShape(View(ml, Rows(2)).Schema));
        foreach (string name in new[] { "Score.seg", "PredictedLabel.seg", "Score.depth", "Score.edges", "Score.front", "PredictedLabel.front" })
            Assert.IsTrue(shape.Any(c => c.Name == name), name);
        Assert.IsFalse(shape.Any(c => c.Name == "PredictedLabel.depth"));
    }

    public sealed class Prediction
    {
        [ColumnName("Score.seg")] public float[] Seg { get; set; } = [];
        [ColumnName("PredictedLabel.seg")] public uint[] SegClasses { get; set; } = [];
        [ColumnName("Score.depth")] public float[] Depth { get; set; } = [];
        [ColumnName("PredictedLabel.front")] public uint Front { get; set; }
    }

    public sealed class Input
    {
        [VectorType(Pixels)] public float[] Features { get; set; } = [];
        public float Budget { get; set; } = 1f;
        public float[] TaskWeights { get; set; } = [];
    }

    [TestMethod]
    public void PredictionEngine_PerRowBudgetAndWeights_MatchTransform_AndTheBudgetChangesTheOutput()
    {
        (MLContext ml, ControllableMultiTaskTransformer t) = Trained.Value;
        Row[] rows = Rows(4, seed: 11);
        var inputs = rows.SelectMany(r => new[]
        {
            new Input { Features = r.Features, Budget = 1f },
            new Input { Features = r.Features, Budget = 0.3f, TaskWeights = [0.1f, 0.7f, 0.1f, 0.1f] },
        }).ToArray();
        var engine = ml.Model.CreatePredictionEngine<Input, Prediction>(t);
        Prediction[] one = inputs.Select(i => engine.Predict(i)).ToArray();
        IDataView scored = t.Transform(ml.Data.LoadFromEnumerable(inputs));
        float[][] seg = Column(scored, "Score.seg"), depth = Column(scored, "Score.depth");
        // A batch of one and a batch of rows may differ in the last bits (batch-size dependent conv kernels).
        for (int i = 0; i < inputs.Length; i++)
        {
            for (int k = 0; k < seg[i].Length; k++) Assert.AreEqual(seg[i][k], one[i].Seg[k], 1e-5, $"row {i} slot {k}");
            for (int k = 0; k < depth[i].Length; k++) Assert.AreEqual(depth[i][k], one[i].Depth[k], 1e-4, $"row {i} pixel {k}");
            Assert.AreEqual(Pixels, one[i].SegClasses.Length);
            for (int p = 0; p < Pixels; p++)
            {
                float a = one[i].Seg[p], b = one[i].Seg[Pixels + p], c = one[i].Seg[2 * Pixels + p];
                Assert.AreEqual(a >= b && a >= c ? 0u : b >= c ? 1u : 2u, one[i].SegClasses[p], $"row {i} pixel {p}");
            }
        }
        // Same image, budget 1 vs 0.3: another configuration, other depth maps.
        for (int r = 0; r < rows.Length; r++)
            CollectionAssert.AreNotEqual(one[2 * r].Depth, one[2 * r + 1].Depth, $"image {r}");
    }

    [TestMethod]
    public void SavedModel_LoadedInAFreshProcess_IsSteeredByBudgetAndTaskWeights_LikeInProcess()
    {
        (MLContext ml, ControllableMultiTaskTransformer t) = Trained.Value;
        string zip = Path.Combine(TestData.TempRoot, $"mlnetslim-dense-{Guid.NewGuid():N}.zip");
        string input = Path.ChangeExtension(zip, ".json");
        Row[] rows = Rows(3, seed: 21);
        try
        {
            ml.Model.SaveAtomic(t, View(ml, rows).Schema, zip);
            File.WriteAllText(input, JsonSerializer.Serialize(new { Features = rows.Select(r => r.Features).ToArray() }));
            var settings = new (string Budget, Dictionary<string, double> Weights)[]
            {
                ("1", new() { ["seg"] = 1, ["depth"] = 1, ["edges"] = 1, ["front"] = 1 }),
                ("0.3", new() { ["seg"] = 0.7, ["depth"] = 0.1, ["edges"] = 0.1, ["front"] = 0.1 }),
                ("0.5", new() { ["seg"] = 0.05, ["depth"] = 0.05, ["edges"] = 0.05, ["front"] = 0.85 }),
            };
            var configurations = new HashSet<string>();
            var depths = new List<float[]>();
            foreach ((string budget, Dictionary<string, double> weights) in settings)
            {
                string w = string.Join(",", weights.Select(kv => FormattableString.Invariant($"{kv.Key}={kv.Value}")));
                (int code, string stdout, string stderr) = LoadHostRunner.Run(TestContext.CancellationToken, "dense", zip, input, "--budget", budget, "--weights", w);
                Assert.AreEqual(0, code, stderr);
                using JsonDocument doc = JsonDocument.Parse(stdout);

                t.Budget = Budget.Parse(budget);
                t.TaskWeights = weights;
                try
                {
                    Assert.AreEqual(t.Configuration.ToString(), doc.RootElement.GetProperty("Configuration").GetString(), $"budget {budget}");
                    configurations.Add(t.Configuration.ToString());
                    IDataView scored = t.Transform(View(ml, rows));
                    foreach (TaskDefinition task in t.Tasks)
                    {
                        float[][] here = Column(scored, ControllableMultiTaskTransformer.ScoreColumnName(task.Name));
                        float[][] there = doc.RootElement.GetProperty("Scores").GetProperty(task.Name).EnumerateArray()
                            .Select(a => a.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
                        Assert.AreEqual(here.Length, there.Length);
                        // Equal up to the last bits: the two processes may run torch with other thread counts.
                        for (int r = 0; r < here.Length; r++)
                        {
                            Assert.AreEqual(here[r].Length, there[r].Length);
                            for (int k = 0; k < here[r].Length; k++)
                                Assert.AreEqual(here[r][k], there[r][k], 1e-5 * Math.Max(1, Math.Abs(here[r][k])), $"{task.Name} row {r} slot {k} budget {budget}");
                        }
                    }
                    uint[][] classes = scored.GetColumn<uint[]>("PredictedLabel.seg").ToArray();
                    uint[][] remote = doc.RootElement.GetProperty("Labels").GetProperty("seg").EnumerateArray()
                        .Select(a => a.EnumerateArray().Select(x => x.GetUInt32()).ToArray()).ToArray();
                    float[][] segProbs = Column(scored, "Score.seg");
                    for (int r = 0; r < classes.Length; r++)
                        for (int p = 0; p < Pixels; p++)
                        {
                            float[] v = [segProbs[r][p], segProbs[r][Pixels + p], segProbs[r][2 * Pixels + p]];
                            float top = v.Max(), second = v.OrderDescending().ElementAt(1);
                            if (top - second > 1e-4f) Assert.AreEqual(classes[r][p], remote[r][p], $"row {r} pixel {p} budget {budget}");
                        }
                    depths.Add(Column(scored, "Score.depth")[0]);
                }
                finally
                {
                    t.Budget = Budget.Full;
                    t.TaskWeights = settings[0].Weights;
                }
            }
            Assert.AreEqual(3, configurations.Count, $"three settings, three configurations: {string.Join("; ", configurations)}");
            CollectionAssert.AreNotEqual(depths[0], depths[1]);
        }
        finally
        {
            File.Delete(zip);
            File.Delete(input);
        }
    }

    [TestMethod]
    public void Fit_LabelMapOfAnotherSize_NamesTheColumnAndBothSizes()
    {
        var ml = new MLContext(seed: 1);
        var rows = Rows(4).Select(r => { r.Depth = r.Depth[..64]; r.Seg = r.Seg[..64]; r.Edges = r.Edges[..64]; return r; });
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            new ControllableMultiTaskEstimator(ml, Options(), (_, _, _, _, _) => throw new AssertFailedException("not reached")).Fit(View(ml, rows, labelMapSize: 64)));
        StringAssert.Contains(e.Message, "label-map column 'Seg'");
        StringAssert.Contains(e.Message, "64 values");
        StringAssert.Contains(e.Message, "16 x 16");
        StringAssert.Contains(e.Message, "256");
    }

    [TestMethod]
    public void Options_PerPixelKinds_AreValidated()
    {
        var o = Options();
        o.Tasks[0].NumClasses = null;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(o.Validate).Message, "set NumClasses");
        o = Options();
        o.Tasks[1].NumClasses = 4;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(o.Validate).Message, "NumClasses must be null");
        o = Options();
        o.Tasks[3].IgnoreValue = 0;
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(o.Validate).Message, "IgnoreValue applies to per-pixel tasks only");
        // Kind and IgnoreValue are saved with the options.
        ControllableMultiTaskEstimator.Options copy = Options().Clone();
        Assert.AreEqual(TaskKind.Segmentation, copy.Tasks[0].Kind);
        Assert.AreEqual(255.0, copy.Tasks[0].IgnoreValue);
        Assert.AreEqual(8, copy.PyramidChannels);
    }

    [TestMethod]
    public void Fit_IgnoreValueIsAccepted_AndReachesTheTrainer()
    {
        var ml = new MLContext(seed: 1);
        Row[] rows = Rows(8);
        rows[0].Seg[5] = 255;
        MultiTaskDataset? seen = null;
        var estimator = new ControllableMultiTaskEstimator(ml, Options(), (train, _, _, _, _) =>
        {
            seen = train;
            throw new OperationCanceledException("stop after reading");
        });
        var o = Options();
        o.ValidationFraction = 0;
        estimator = new ControllableMultiTaskEstimator(ml, o, (train, _, _, _, _) =>
        {
            seen = train;
            throw new OperationCanceledException("stop after reading");
        });
        Assert.ThrowsExactly<OperationCanceledException>(() => estimator.Fit(View(ml, rows)));
        Assert.IsNotNull(seen);
        Assert.AreEqual(255f, seen.PixelLabels[0]![5]);
        Assert.AreEqual(255.0, seen.Tasks[0].IgnoreValue);
        CollectionAssert.AreEqual(rows[1].Depth, seen.PixelLabels[1]!.AsSpan(Pixels, Pixels).ToArray());
        CollectionAssert.AreEqual(rows.Select(r => (int)r.Front).ToArray(), seen.Labels[3]);
    }

    // ---- LoadLabelMaps ---------------------------------------------------------------------------------------------

    public sealed class PathRow
    {
        public string Path { get; set; } = "";
    }

    [TestMethod]
    public void LoadLabelMaps_Keeps16BitAnd8BitValuesExactly_AndIsSavedWithTheModel()
    {
        string dir = Directory.CreateTempSubdirectory("mlnetslim-labelmaps-").FullName;
        try
        {
            var depth = new float[Pixels];
            for (int i = 0; i < Pixels; i++) depth[i] = i * 200;
            depth[17] = 51_234;
            depth[18] = 65_535;
            LabelMapPng.Write(Path.Combine(dir, "depth.png"), depth, H, W, 16);
            var seg = new float[Pixels];
            for (int i = 0; i < Pixels; i++) seg[i] = i % 21;
            seg[3] = 255;
            LabelMapPng.Write(Path.Combine(dir, "seg.png"), seg, H, W, 8);

            var ml = new MLContext(seed: 1);
            IDataView paths = ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = "depth.png" }, new PathRow { Path = "seg.png" } });
            ITransformer loader = ml.Transforms.LoadLabelMaps("Map", dir, H, W, inputColumnName: "Path").Fit(paths);
            IDataView maps = loader.Transform(paths);
            Assert.AreEqual(Pixels, ((VectorDataViewType)maps.Schema["Map"].Type).Size);
            float[][] values = maps.GetColumn<float[]>("Map").ToArray();
            Assert.AreEqual(51_234f, values[0][17]);
            CollectionAssert.AreEqual(depth, values[0]);
            CollectionAssert.AreEqual(seg, values[1]);

            string zip = Path.Combine(dir, "loader.zip");
            ml.Model.Save(loader, paths.Schema, zip);
            ITransformer reloaded = new MLContext(seed: 2).AddMLNetSlim().Model.LoadChecked(zip, out _);
            CollectionAssert.AreEqual(depth, reloaded.Transform(paths).GetColumn<float[]>("Map").First());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void LoadLabelMaps_OfAnotherSize_NamesTheColumnAndBothSizes()
    {
        string dir = Directory.CreateTempSubdirectory("mlnetslim-labelmaps-").FullName;
        try
        {
            LabelMapPng.Write(Path.Combine(dir, "small.png"), new float[8 * 8], 8, 8, 16);
            var ml = new MLContext(seed: 1);
            IDataView paths = ml.Data.LoadFromEnumerable(new[] { new PathRow { Path = "small.png" } });
            IDataView maps = ml.Transforms.LoadLabelMaps("depth", dir, H, W, inputColumnName: "Path").Fit(paths).Transform(paths);
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => maps.GetColumn<float[]>("depth").ToArray());
            StringAssert.Contains(e.Message, "column 'depth'");
            StringAssert.Contains(e.Message, "8 x 8");
            StringAssert.Contains(e.Message, "16 x 16");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
