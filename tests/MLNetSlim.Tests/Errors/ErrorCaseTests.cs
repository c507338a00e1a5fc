using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Network;
using MLNetSlim.Testing;
using MLNetSlim.Tests.Integrity;
using MLNetSlim.Training;
using static MLNetSlim.Tests.MLNet.MLNetTestData;
using DenseTestData = MLNetSlim.Tests.MLNet.DenseTestData;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Errors;

/// <summary>One test per row of docs/errors.md (issue 14, item 4), named after the row's id.</summary>
[TestClass]
public class ErrorCaseTests
{
    [TestMethod]
    public void Table_And_Tests_Match_OneForOne()
    {
        string[] documented = ErrorTable.All.Keys.Order(StringComparer.Ordinal).ToArray();
        string[] tested = ErrorTable.TestIds(typeof(ErrorCaseTests)).Order(StringComparer.Ordinal).ToArray();
        Assert.IsTrue(documented.Length >= 25, $"{documented.Length} rows parsed from docs/errors.md");
        CollectionAssert.AreEqual(documented, tested, $"docs/errors.md rows [{string.Join(", ", documented)}] vs tests [{string.Join(", ", tested)}]");
    }

    private static ControllableMultiTaskTransformer Fit(MLContext ml, IDataView data, ControllableMultiTaskEstimator.Options? o = null) =>
        new ControllableMultiTaskEstimator(ml, o ?? Options(), new FakeTrainer().Run).Fit(data);

    private static ControllableMultiTaskTransformer Transformer() => new(TestModel());

    private static IDataView Scored(MLContext ml, ControllableMultiTaskTransformer t, IEnumerable<Row> rows)
    {
        IDataView scored = t.Transform(Raw(ml, rows));
        // Enumerate, so the forward passes run.
        _ = Read(scored, "Shape");
        return scored;
    }

    private static string Temp(string ext) => Path.Combine(TestData.TempRoot, $"mlnetslim-err-{Guid.NewGuid():N}{ext}");

    /// <summary>Runs <paramref name="use"/> on a new temporary file path ending in <paramref name="ext"/>, then deletes
    /// the file whatever <paramref name="use"/> did.</summary>
    private static void WithTempFile(string ext, Action<string> use)
    {
        string path = Temp(ext);
        try
        {
            use(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- schema and data -----------------------------------------------------------------------------------------

    [TestMethod]
    public void E01_Fit_FeaturesOfTheWrongSize() =>
        ErrorTable.Verify("E01", () => { var ml = new MLContext(1); Fit(ml, Raw(ml, Rows(6).Select(r => { r.Features = new float[Size + 1]; return r; }), Size + 1)); });

    [TestMethod]
    public void E02_Predict_FeaturesOfTheWrongSize() =>
        ErrorTable.Verify("E02", () => { var ml = new MLContext(1); Transformer().Transform(Raw(ml, Rows(2).Select(r => { r.Features = new float[Size - 1]; return r; }), Size - 1)); });

    [TestMethod]
    public void E03_Fit_LabelClassesDifferFromOptionsNumClasses() =>
        ErrorTable.Verify("E03", () =>
        {
            var ml = new MLContext(1);
            ControllableMultiTaskEstimator.Options o = Options();
            o.Tasks[0].NumClasses = 2; // the Shape keys have 3 values
            Fit(ml, Keyed(ml, Rows(12)), o);
        });

    [TestMethod]
    public void E04_Dataset_LabelOutOfRange() =>
        ErrorTable.Verify("E04", () => _ = new MultiTaskDataset(new float[2 * Size], C, H, W,
            new[] { new TaskDefinition("Shape", TaskKind.Classification, 3, Shapes) }, new[] { new[] { 0, 5 } }));

    [TestMethod]
    public void E05_Fit_EmptyData_SaysNoRows() =>
        ErrorTable.Verify("E05", () =>
        {
            var ml = new MLContext(1);
            IDataView raw = Raw(ml, Array.Empty<Row>());
            IDataView keyed = ml.Transforms.Conversion.MapValueToKey("Shape").Append(ml.Transforms.Conversion.MapValueToKey("Size")).Fit(raw).Transform(raw);
            Fit(ml, keyed);
        });

    [TestMethod]
    public void E06_Fit_TaskWhoseLabelsAreAllMissing() =>
        ErrorTable.Verify("E06", () =>
        {
            var ml = new MLContext(1);
            IDataView raw = Raw(ml, Rows(12));
            // A key dictionary that holds none of the rows' Size values: every Size key is 0 (missing).
            IDataView dictionary = ml.Data.LoadFromEnumerable(new[] { new { Size = "tiny" }, new { Size = "huge" } });
            IDataView keyed = ml.Transforms.Conversion.MapValueToKey("Shape")
                .Append(ml.Transforms.Conversion.MapValueToKey("Size", keyData: dictionary)).Fit(raw).Transform(raw);
            Fit(ml, keyed);
        });

    [TestMethod]
    public void E07_Options_DuplicateTaskNames() =>
        ErrorTable.Verify("E07", () =>
        {
            ControllableMultiTaskEstimator.Options o = Options();
            o.Tasks.Add(new("Shape"));
            o.Validate();
        });

    // ---- budgets and weights ----------------------------------------------------------------------------------------

    [TestMethod]
    public void E08_Budget_Zero() => ErrorTable.Verify("E08", () => Transformer().Budget = Budget.FractionOfFull(0));

    [TestMethod]
    public void E09_Budget_NaN() => ErrorTable.Verify("E09", () => Transformer().Budget = Budget.Macs(double.NaN));

    [TestMethod]
    public void E10_Budget_AboveFull() => ErrorTable.Verify("E10", () => Transformer().Budget = Budget.FractionOfFull(1.5));

    [TestMethod]
    public void E11_Budget_BelowTheSmallestConfiguration() =>
        ErrorTable.Verify("E11", () =>
        {
            using ControllableMultiTaskModel model = TinyModel.Train();
            _ = new ControllableMultiTaskTransformer(model) { Budget = Budget.Macs(1) };
        });

    [TestMethod]
    public void E12_TaskWeights_Negative() =>
        ErrorTable.Verify("E12", () => Transformer().TaskWeights = new Dictionary<string, double> { ["Shape"] = -1, ["Size"] = 1 });

    [TestMethod]
    public void E13_TaskWeights_NaN() =>
        ErrorTable.Verify("E13", () => Transformer().TaskWeights = new Dictionary<string, double> { ["Shape"] = double.NaN });

    [TestMethod]
    public void E14_TaskWeights_AllZero() =>
        ErrorTable.Verify("E14", () => Transformer().TaskWeights = new Dictionary<string, double> { ["Shape"] = 0, ["Size"] = 0 });

    [TestMethod]
    public void E15_TaskWeights_UnknownTask() =>
        ErrorTable.Verify("E15", () => Transformer().TaskWeights = new Dictionary<string, double> { ["Colour"] = 1 });

    // ---- widths -----------------------------------------------------------------------------------------------------

    private static void WithWidths(double[] widths)
    {
        ControllableMultiTaskEstimator.Options o = Options();
        o.Widths = widths;
        _ = new ControllableMultiTaskEstimator(new MLContext(1), o);
    }

    [TestMethod]
    public void E16_Widths_Empty() => ErrorTable.Verify("E16", () => WithWidths(Array.Empty<double>()));

    [TestMethod]
    public void E17_Widths_OutsideZeroOne() => ErrorTable.Verify("E17", () => WithWidths(new[] { 0.5, 1.0, 1.5 }));

    [TestMethod]
    public void E18_Widths_Without1() => ErrorTable.Verify("E18", () => WithWidths(new[] { 0.25, 0.5 }));

    // ---- model files ------------------------------------------------------------------------------------------------

    [TestMethod]
    public void E19_ModelFile_NewerFormatVersion() =>
        ErrorTable.Verify("E19", () =>
        {
            using ControllableMultiTaskModel model = TinyModel.Train();
            using var ms = new MemoryStream();
            model.Save(ms);
            byte[] b = ms.ToArray();
            BitConverter.TryWriteBytes(b.AsSpan(8, 4), ControllableMultiTaskModel.FormatVersion + 1);
            ControllableMultiTaskModel.Load(new MemoryStream(b)).Dispose();
        });

    [TestMethod]
    public void E20_ModelFile_WeightsDoNotMatchTheArchitecture() =>
        ErrorTable.Verify("E20", () =>
        {
            // A well-formed file (right checksum) whose weights come from a wider network than its options describe.
            using ControllableMultiTaskModel small = TinyModel.Train();
            ModelOptions wide = TinyModel.Options();
            wide.Backbone.StageChannels = [6, 8];
            using ControllableMultiTaskModel other = ModelTrainer.Train(TinyModel.Data(64), null, wide);
            byte[] Payload(ControllableMultiTaskModel m)
            {
                using var ms = new MemoryStream();
                m.Save(ms);
                return ms.ToArray()[20..^32]; // magic + version + length ... SHA-256
            }
            byte[] a = Payload(small), o = Payload(other);
            // Sections of the payload: id, options, calibration, weights. Keep a's first three, take o's weights.
            int aWeights = WeightsOffset(small), oWeights = WeightsOffset(other);
            byte[] mixed = a[..aWeights].Concat(o[oWeights..]).ToArray();
            using var file = new MemoryStream();
            file.Write("MLNSLIM1"u8);
            file.Write(BitConverter.GetBytes(ControllableMultiTaskModel.FormatVersion));
            Checksummed.Write(file, mixed);
            file.Position = 0;
            ControllableMultiTaskModel.Load(file).Dispose();
        });

    /// <summary>Offset of the weights inside a model's payload: after the id, the options string and the calibration table.</summary>
    private static int WeightsOffset(ControllableMultiTaskModel m)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            w.Write(m.Id.ToByteArray());
            w.Write(System.Text.Json.JsonSerializer.Serialize(m.Network.Options));
            m.Calibration.Write(w);
        }
        return (int)ms.Length;
    }

    [TestMethod]
    public void E21_ModelZip_BitFlip() =>
        ErrorTable.Verify("E21", () =>
        {
            MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
            var ml = new MLContext(1);
            WithTempFile(".zip", path =>
            {
                ml.Model.SaveAtomic(Transformer(), Raw(ml, Rows(2)).Schema, path);
                byte[] b = File.ReadAllBytes(path);
                int at = IndexOf(b, "MultiTaskModel.bin"u8.ToArray()) + 60; // inside that entry's data
                b[at] ^= 0x10;
                File.WriteAllBytes(path, b);
                new MLContext(1).AddMLNetSlim().Model.LoadChecked(path, out _);
            });
        });

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        throw new InvalidOperationException("not found");
    }

    [TestMethod]
    public void E22_ModelZip_Truncated() =>
        ErrorTable.Verify("E22", () =>
        {
            MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
            var ml = new MLContext(1);
            WithTempFile(".zip", path =>
            {
                ml.Model.SaveAtomic(Transformer(), Raw(ml, Rows(2)).Schema, path);
                byte[] b = File.ReadAllBytes(path);
                File.WriteAllBytes(path, b[..(b.Length / 2)]);
                new MLContext(1).AddMLNetSlim().Model.LoadChecked(path, out _);
            });
        });

    [TestMethod]
    public void E23_ModelZip_ForeignFile() =>
        ErrorTable.Verify("E23", () => WithTempFile(".zip", path =>
        {
            File.WriteAllText(path, "this is not a model");
            new MLContext(1).AddMLNetSlim().Model.LoadChecked(path, out _);
        }));

    [TestMethod]
    public void E24_ModelStream_ForeignFile() =>
        ErrorTable.Verify("E24", () => ControllableMultiTaskModel.Load(new MemoryStream("PK\u0003\u0004 a zip, not a model"u8.ToArray())).Dispose());

    [TestMethod]
    public void E25_LoadChecked_WithoutAddMLNetSlim() =>
        ErrorTable.Verify("E25", () => WithSavedZip(path => new MLContext(1).Model.LoadChecked(path, out _)));

    [TestMethod]
    public void E26_PlainModelLoad_WithoutAddMLNetSlim_AsQuotedInReadme()
    {
        Exception e = ErrorTable.Verify("E26", () => WithSavedZip(path => new MLContext(1).Model.Load(path, out _)));
        // README quotes this message under Troubleshooting.
        string readme = File.ReadAllText(Path.Combine(ErrorTable.RepositoryRoot(), "README.md"));
        StringAssert.Contains(readme, ErrorTable.All["E26"].Message, "README quotes what the user sees");
        Exception innermost = e;
        while (innermost.InnerException is Exception i) innermost = i;
        Assert.IsInstanceOfType<FormatException>(innermost);
        StringAssert.StartsWith(innermost.Message, "Couldn't load model: '");
        StringAssert.Contains(readme, "FormatException: Couldn't load model: '", "README quotes the inner error too");
    }

    private static void WithSavedZip(Action<string> load)
    {
        MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
        var ml = new MLContext(1);
        WithTempFile(".zip", path =>
        {
            IDataView raw = Raw(ml, Rows(3));
            ITransformer chain = ml.Transforms.Conversion.MapValueToKey("Shape").Fit(raw).Append(Transformer());
            ml.Model.SaveAtomic(chain, raw.Schema, path);
            load(path);
        });
    }

    // ---- non-finite values ------------------------------------------------------------------------------------------

    [TestMethod]
    public void E27_Fit_NaNFeature() =>
        ErrorTable.Verify("E27", () =>
        {
            var ml = new MLContext(1);
            Row[] rows = Rows(12);
            rows[3].Features[5] = float.NaN;
            Fit(ml, Keyed(ml, rows));
        });

    [TestMethod]
    public void E28_Fit_InfiniteFeatureInEveryRow_WithSkipNonFiniteRows() =>
        ErrorTable.Verify("E28", () =>
        {
            var ml = new MLContext(1);
            Row[] rows = Rows(6);
            foreach (Row r in rows) r.Features[0] = float.PositiveInfinity;
            ControllableMultiTaskEstimator.Options o = Options();
            o.SkipNonFiniteRows = true;
            Fit(ml, Keyed(ml, rows), o);
        });

    [TestMethod]
    public void E29_Predict_InfiniteFeature() =>
        ErrorTable.Verify("E29", () =>
        {
            var ml = new MLContext(1);
            Row[] rows = Rows(5);
            rows[2].Features[1] = float.PositiveInfinity;
            Scored(ml, Transformer(), rows);
        });

    [TestMethod]
    public void E30_Training_LossBecomesNonFinite()
    {
        MultiTaskDataset data = TinyModel.Data(32);
        Array.Fill(data.Images, float.MaxValue); // finite, but the first convolution overflows
        ModelOptions o = TinyModel.Options();
        using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(o.NetworkFor(data.Tasks, TinyModel.C, TinyModel.H, TinyModel.W), 1);
        byte[] before = Weights(net);
        var e = (TrainingDivergedException)ErrorTable.Verify("E30", () => SupernetTrainer.Train(net, data, o.Training));
        Assert.AreEqual(1, e.Step);
        CollectionAssert.AreEqual(before, Weights(net), "the network keeps the last good weights and batch-norm statistics");
    }

    private static byte[] Weights(MultiTaskNetwork net)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) net.save(w);
        return ms.ToArray();
    }

    [TestMethod]
    public void E31_Training_NaNPixel() =>
        ErrorTable.Verify("E31", () =>
        {
            MultiTaskDataset data = TinyModel.Data(32);
            data.Images[TinyModel.Size * 7 + 3] = float.NaN;
            ModelOptions o = TinyModel.Options();
            using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(o.NetworkFor(data.Tasks, TinyModel.C, TinyModel.H, TinyModel.W), 1);
            SupernetTrainer.Train(net, data, o.Training);
        });

    // ---- other files ------------------------------------------------------------------------------------------------

    [TestMethod]
    public void E32_IdxFile_Truncated() =>
        ErrorTable.Verify("E32", () => WithTempFile(".idx", path =>
        {
            // Labels file: magic 0x00000801, 10 labels declared, 4 present.
            File.WriteAllBytes(path, new byte[] { 0, 0, 8, 1, 0, 0, 0, 10, 1, 2, 3, 4 });
            MLNetSlim.Datasets.IdxReader.ReadLabels(path);
        }));

    [TestMethod]
    public void E33_Checkpoint_Damaged() =>
        ErrorTable.Verify("E33", () => WithTempFile(".ckpt", path =>
        {
            using (FileStream f = File.Create(path))
            {
                f.Write("MLNSCKPT"u8);
                f.Write(BitConverter.GetBytes(TrainingCheckpoint.FormatVersion));
                Checksummed.Write(f, new byte[] { 1, 2, 3 });
            }
            byte[] b = File.ReadAllBytes(path);
            b[20] ^= 1; // inside the payload
            File.WriteAllBytes(path, b);
            MultiTaskDataset data = TinyModel.Data(32);
            ModelOptions o = TinyModel.Options();
            o.Training.CheckpointPath = path;
            o.Training.ResumeFromCheckpoint = true;
            using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(o.NetworkFor(data.Tasks, TinyModel.C, TinyModel.H, TinyModel.W), 1);
            SupernetTrainer.Train(net, data, o.Training);
        }));

    [TestMethod]
    public void E34_Checkpoint_OfAnotherRun() =>
        ErrorTable.Verify("E34", () => WithTempFile(".ckpt", path =>
        {
            MultiTaskDataset data = TinyModel.Data(32);
            ModelOptions o = TinyModel.Options();
            o.Training.CheckpointPath = path;
            o.Training.CheckpointEverySteps = 1;
            NetworkOptions shape = o.NetworkFor(data.Tasks, TinyModel.C, TinyModel.H, TinyModel.W);
            using (MultiTaskNetwork net = SupernetTrainer.CreateNetwork(shape, 1)) SupernetTrainer.Train(net, data, o.Training);
            o.Training.ResumeFromCheckpoint = true;
            o.Training.Seed += 1;
            using MultiTaskNetwork other = SupernetTrainer.CreateNetwork(shape, 1);
            SupernetTrainer.Train(other, data, o.Training);
        }));

    // ---- data set loaders (MLNetSlim.Datasets) ------------------------------------------------------------------------

    [TestMethod]
    public void E35_SearchOptions_EncoderToleranceOutOfRange() =>
        ErrorTable.Verify("E35", () =>
        {
            var (costs, calibration) = MLNetSlim.Tests.Control.ControlTestTables.Random(2, 1);
            _ = new ConfigurationSearch(costs, calibration, options: new SearchOptions { EncoderTolerance = 0.2 });
        });

    private static ControllableMultiTaskTransformer FitDense(MLContext ml, IEnumerable<DenseTestData.Row> rows, int labelMapSize = DenseTestData.Pixels) =>
        new ControllableMultiTaskEstimator(ml, DenseTestData.Options(), new FakeTrainer().Run).Fit(DenseTestData.View(ml, rows, labelMapSize));

    [TestMethod]
    public void E36_LabelMap_WrongSize() =>
        ErrorTable.Verify("E36", () =>
        {
            var ml = new MLContext(seed: 1);
            FitDense(ml, DenseTestData.Rows(4).Select(r => { r.Seg = r.Seg[..64]; r.Depth = r.Depth[..64]; r.Edges = r.Edges[..64]; return r; }), 64);
        });

    [TestMethod]
    public void E37_LabelMap_SegmentationValueNotAClass() =>
        ErrorTable.Verify("E37", () =>
        {
            var ml = new MLContext(seed: 1);
            DenseTestData.Row[] rows = DenseTestData.Rows(4);
            rows[2].Seg[9] = 7;
            FitDense(ml, rows);
        });

    [TestMethod]
    public void E38_LoadLabelMaps_WrongSize() =>
        ErrorTable.Verify("E38", () =>
        {
            string dir = Directory.CreateTempSubdirectory("mlnetslim-e37-").FullName;
            try
            {
                LabelMapPng.Write(Path.Combine(dir, "small.png"), new float[64], 8, 8, 16);
                var ml = new MLContext(seed: 1);
                IDataView paths = ml.Data.LoadFromEnumerable(new[] { new MLNet.PerPixelTests.PathRow { Path = "small.png" } });
                _ = ml.Transforms.LoadLabelMaps("depth", dir, 16, 16, inputColumnName: "Path").Fit(paths).Transform(paths).GetColumn<float[]>("depth").ToArray();
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        });

    [TestMethod]
    public void E39_Options_SegmentationWithoutNumClasses() =>
        ErrorTable.Verify("E39", () =>
        {
            ControllableMultiTaskEstimator.Options o = DenseTestData.Options();
            o.Tasks[0].NumClasses = null;
            _ = new ControllableMultiTaskEstimator(new MLContext(seed: 1), o);
        });

    // ---- serving without TorchSharp (MLNetSlim.Serving) ------------------------------------------------------------

    /// <summary>A serving bundle of the ONNX test model holding <paramref name="configurations"/>.</summary>
    private static MLNetSlim.Serving.ServingBundle Bundle(params WidthConfiguration[] configurations) => Bundle(null, configurations);

    /// <summary>As above, with a latency table (null: none).</summary>
    private static MLNetSlim.Serving.ServingBundle Bundle(Func<CostTable, LatencyTable>? latency, params WidthConfiguration[] configurations)
    {
        using ControllableMultiTaskModel model = MLNetSlim.Tests.Onnx.OnnxTestModels.Model(MLNetSlim.Tests.Onnx.OnnxTestModels.SmallConvNet(), seed: 4);
        return new MLNetSlim.Serving.ServingBundle(model.Tasks, model.Channels, model.Height, model.Width, model.Costs, model.Calibration,
            "Features", "Budget", "TaskWeights", Budget.Full, [1.0, 1.0],
            configurations.Select(c => (c, MLNetSlim.Onnx.MultiTaskOnnxExporter.ToBytes(model, c))).ToArray(),
            latency is null ? null : new MLNetSlim.Serving.BundleLatency(latency(model.Costs), "test table", DateTime.UnixEpoch));
    }

    [TestMethod]
    public void E40_ServingBundle_OfANewerFormat() =>
        ErrorTable.Verify("E40", () =>
        {
            var bytes = new MemoryStream();
            Bundle(WidthConfiguration.Uniform(1.0, 2)).Save(bytes);
            byte[] newer = bytes.ToArray();
            newer[8] = 3; // the int32 format version after the 8-byte magic
            MLNetSlim.Serving.ServingBundle.Load(new MemoryStream(newer));
        });

    [TestMethod]
    public void E41_ServingBundle_MillisecondBudget() =>
        ErrorTable.Verify("E41", () =>
        {
            using var served = new MLNetSlim.Serving.ServingMultiTaskModel(Bundle(WidthConfiguration.Uniform(1.0, 2)));
            served.SelectConfiguration(Budget.Milliseconds(2), [1.0, 1.0]);
        });

    [TestMethod]
    public void E42_ServingBundle_ConfigurationNotInTheBundle() =>
        ErrorTable.Verify("E42", () =>
        {
            using var served = new MLNetSlim.Serving.ServingMultiTaskModel(Bundle(WidthConfiguration.Uniform(1.0, 2)));
            float[] image = new float[MLNetSlim.Tests.Onnx.OnnxTestModels.Size];
            served.Predict(image, 1, served.Costs.Resolve(WidthConfiguration.Uniform(0.25, 2)));
        });

    [TestMethod]
    public void E43_Cifar100_RecordWhoseCoarseLabelDisagreesWithTheTaxonomy() =>
        ErrorTable.Verify("E43", () =>
        {
            string folder = MLNetSlim.Tests.TestData.NewTempFolder();
            string file = Path.Combine(folder, "train.bin");
            MLNetSlim.Tests.Datasets.Cifar100MtlTests.WriteBin(file, [4, 30], seed: 1);
            byte[] bytes = File.ReadAllBytes(file);
            bytes[MLNetSlim.Datasets.Cifar100Mtl.RecordSize] = 1; // dolphin labelled as fish
            File.WriteAllBytes(file, bytes);
            MLNetSlim.Datasets.Cifar100Mtl.Load(MLNetSlim.Datasets.DataSplit.Train, folder);
        });

    [TestMethod]
    public void E44_Cifar100_FileOfAWrongSize() =>
        ErrorTable.Verify("E44", () =>
        {
            string folder = MLNetSlim.Tests.TestData.NewTempFolder();
            File.WriteAllBytes(Path.Combine(folder, "test.bin"), new byte[5000]);
            MLNetSlim.Datasets.Cifar100Mtl.LoadDataView(MLNetSlim.Datasets.DataSplit.Test, folder);
        });

    [TestMethod]
    public void E45_DenseLayout_MissingSplitList() =>
        ErrorTable.Verify("E45", () =>
        {
            string root = MLNetSlim.Tests.TestData.NewTempFolder();
            MLNetSlim.Tests.Datasets.DenseSceneLoaderTests.WriteNyud(root, 4, 4, "train", "a");
            MLNetSlim.Datasets.NyudV2.LoadDataView(root, "val", 4, 4);
        });

    [TestMethod]
    public void E46_DenseLayout_ImageWithoutALabelFile() =>
        ErrorTable.Verify("E46", () =>
        {
            string root = MLNetSlim.Tests.TestData.NewTempFolder();
            MLNetSlim.Tests.Datasets.DenseSceneLoaderTests.WriteNyud(root, 4, 4, "train", "a");
            File.Delete(Path.Combine(root, "edge", "a.npy"));
            MLNetSlim.Datasets.NyudV2.LoadDataView(root, "train", 4, 4);
        });

    [TestMethod]
    public void E47_DenseLayout_LabelMapOfAnotherSizeThanItsImage() =>
        ErrorTable.Verify("E47", () =>
        {
            string root = MLNetSlim.Tests.TestData.NewTempFolder();
            MLNetSlim.Tests.Datasets.DenseSceneLoaderTests.WriteNyud(root, 4, 4, "train", "a");
            LabelMapPng.Write(Path.Combine(root, "segmentation", "a.png"), new float[6], 2, 3, 8);
            IDataView view = MLNetSlim.Datasets.NyudV2.LoadDataView(root, "train", 4, 4, ["semseg"]);
            using DataViewRowCursor cursor = view.GetRowCursor(view.Schema);
            ValueGetter<VBuffer<float>> get = cursor.GetGetter<VBuffer<float>>(view.Schema["semseg"]);
            VBuffer<float> v = default;
            cursor.MoveNext();
            get(ref v);
        });

    [TestMethod]
    public void E48_DenseLayout_LabelFileOfAKindNotRead() =>
        ErrorTable.Verify("E48", () =>
        {
            string root = MLNetSlim.Tests.TestData.NewTempFolder();
            MLNetSlim.Tests.Datasets.DenseSceneLoaderTests.WriteNyud(root, 4, 4, "train", "a");
            File.Delete(Path.Combine(root, "depth", "a.npy"));
            File.WriteAllText(Path.Combine(root, "depth", "a.mat"), "MATLAB 5.0 MAT-file");
            MLNetSlim.Datasets.NyudV2.LoadDataView(root, "train", 4, 4);
        });

    [TestMethod]
    public void E49_Calibration_TaskWithoutAnyLabelledRow() =>
        ErrorTable.Verify("E49", () =>
        {
            TaskDefinition[] tasks = [new("Shape", TaskKind.Classification, 3), new("Size", TaskKind.Classification, 2)];
            using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(new NetworkOptions
            {
                Tasks = tasks, Channels = 1, Height = 8, Width = 8,
                Backbone = new MLNetSlim.Network.Backbones.BackboneOptions { StageChannels = [4, 8], StageDepths = [1, 1] },
            }, seed: 1);
            var data = new MultiTaskDataset(new float[4 * 64], 1, 8, 8, tasks, [[0, 1, 2, 0], [-1, -1, -1, -1]]);
            ModelTrainer.Calibrate(net, data);
        });

    // ---- streaming Fit, early stopping, device (issue 10) ---------------------------------------------------------

    private static (MLContext Ml, IDataView Data, ControllableMultiTaskEstimator.Options Options) Streamed8(int n, Action<Row[]> damage)
    {
        var ml = new MLContext(1);
        var rng = new Random(4);
        Row[] rows = Rows(n);
        foreach (Row r in rows) r.Features = Enumerable.Range(0, 64).Select(_ => (float)rng.NextDouble()).ToArray();
        damage(rows);
        ControllableMultiTaskEstimator.Options o = Options();
        o.ImageHeight = o.ImageWidth = 8;
        o.BatchSize = 8;
        o.InMemoryCacheLimitMB = 0;
        o.ValidationFraction = 0;
        return (ml, Raw(ml, rows, 64), o);
    }

    [TestMethod]
    public void E50_StreamingFit_ANaNFeature() =>
        ErrorTable.Verify("E50", () =>
        {
            (MLContext ml, IDataView raw, ControllableMultiTaskEstimator.Options o) = Streamed8(40, rows => rows[21].Features[5] = float.NaN);
            IDataView keyed = ml.Transforms.Conversion.MapValueToKey("Shape").Append(ml.Transforms.Conversion.MapValueToKey("Size")).Fit(raw).Transform(raw);
            ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(keyed);
        });

    [TestMethod]
    public void E51_EarlyStopping_WithoutValidationData() =>
        ErrorTable.Verify("E51", () =>
        {
            ControllableMultiTaskEstimator.Options o = Options();
            o.ValidationFraction = 0;
            o.EarlyStoppingPatience = 2;
            _ = new MLContext(1).MulticlassClassification.Trainers.ControllableMultiTask(o);
        });

    [TestMethod]
    public void E52_InMemoryCacheLimit_Negative() =>
        ErrorTable.Verify("E52", () =>
        {
            ControllableMultiTaskEstimator.Options o = Options();
            o.InMemoryCacheLimitMB = -1;
            _ = new MLContext(1).MulticlassClassification.Trainers.ControllableMultiTask(o);
        });

    [TestMethod]
    public void E53_GpuDeviceId_WithoutCuda_AndWithoutFallback() =>
        ErrorTable.Verify("E53", () =>
        {
            if (TorchSharp.torch.cuda.is_available()) Assert.Inconclusive("CUDA is available here.");
            var ml = new MLContext(1) { GpuDeviceId = 1, FallbackToCpu = false };
            ml.MulticlassClassification.Trainers.ControllableMultiTask(Options()).Fit(Keyed(ml, Rows(8)));
        });

    [TestMethod]
    public void E60_EvaluatePerPixel_OnDataThatIsNotTheTransformersOutput() =>
        ErrorTable.Verify("E60", () =>
        {
            var ml = new MLContext(1);
            IDataView data = DenseTestData.View(ml, DenseTestData.Rows(16));
            ControllableMultiTaskEstimator.Options o = DenseTestData.Options();
            o.PostStatisticsImages = 8;
            ControllableMultiTaskTransformer t = ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(data);
            ml.MulticlassClassification.EvaluatePerPixel(data, t); // the input, not t.Transform(data)
        });

    [TestMethod]
    public void E61_EvaluatePerPixel_WithoutPerPixelTasks() =>
        ErrorTable.Verify("E61", () =>
        {
            var ml = new MLContext(1);
            var t = new ControllableMultiTaskTransformer(TestModel());
            ml.MulticlassClassification.EvaluatePerPixel(t.Transform(Keyed(ml, Rows(4))), t);
        });

    [TestMethod]
    public void E62_ShuffleBufferRows_Negative() =>
        ErrorTable.Verify("E62", () =>
        {
            ControllableMultiTaskEstimator.Options o = Options();
            o.ShuffleBufferRows = -1;
            _ = new MLContext(1).MulticlassClassification.Trainers.ControllableMultiTask(o);
        });
    // ---- decoder widths (issue 12) ----------------------------------------------------------------------------------

    private static void WithDecoderWidths(double[] widths)
    {
        ControllableMultiTaskEstimator.Options o = Options();
        o.DecoderWidths = widths;
        _ = new ControllableMultiTaskEstimator(new MLContext(1), o);
    }

    [TestMethod]
    public void E66_DecoderWidths_Empty() =>
        Assert.AreEqual("DecoderWidths", ((ArgumentException)ErrorTable.Verify("E66", () => WithDecoderWidths([]))).ParamName);

    [TestMethod]
    public void E67_DecoderWidths_OutsideZeroOne() => ErrorTable.Verify("E67", () => WithDecoderWidths([0.5, 1.0, 1.5]));

    [TestMethod]
    public void E68_DecoderWidths_Without1() => ErrorTable.Verify("E68", () => WithDecoderWidths([0.25, 0.5]));

    [TestMethod]
    public void E69_DecoderWidths_Duplicated() => ErrorTable.Verify("E69", () => WithDecoderWidths([0.5, 0.5, 1.0]));

    [TestMethod]
    public void E70_DecoderWidths_TooMany() =>
        ErrorTable.Verify("E70", () => WithDecoderWidths(Enumerable.Range(1, 65).Select(i => i / 65.0).ToArray()));

    [TestMethod]
    public void E54_ServingBundle_MillisecondBudgetBelowTheFastestConfiguration() =>
        ErrorTable.Verify("E54", () =>
        {
            // Every configuration: 1 ms encoder + 2 x 0.5 ms decoders = 2 ms.
            static LatencyTable Table(CostTable costs) => new(costs, Enumerable.Repeat(1.0, costs.EncoderOptionCount).ToArray(),
                Enumerable.Range(0, costs.TaskCount).Select(_ => Enumerable.Range(0, costs.EncoderOptionCount)
                    .Select(_ => Enumerable.Repeat(0.5, costs.DecoderWidths.Count).ToArray()).ToArray()).ToArray());
            using var served = new MLNetSlim.Serving.ServingMultiTaskModel(Bundle(Table, WidthConfiguration.Uniform(1.0, 2), WidthConfiguration.Uniform(0.25, 2)));
            Assert.AreEqual(WidthConfiguration.Uniform(1.0, 2), served.SelectConfiguration(Budget.Milliseconds(2.5), [1.0, 1.0]).Widths, "both fit: the better calibrated");
            served.SelectConfiguration(Budget.Milliseconds(1.5), [1.0, 1.0]);
        });
}
