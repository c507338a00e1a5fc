using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Training;
using static MLNetSlim.Tests.MLNet.MLNetTestData;

namespace MLNetSlim.Tests.MLNet;

[TestClass]
public class EstimatorTests
{
    [TestMethod]
    public void Fit_ConvertsRowsToNchwAndZeroBasedLabels_AndCallsTheTrainer()
    {
        var ml = new MLContext(1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        var progress = new List<TrainingProgress>();
        Row[] rows = Rows(20);
        var fake = new FakeTrainer();
        ControllableMultiTaskEstimator.Options o = Options();
        o.ValidationFraction = 0;
        o.Progress = new SyncProgress(progress);
        ControllableMultiTaskTransformer t = new ControllableMultiTaskEstimator(ml, o, fake.Run).Fit(Keyed(ml, rows));

        Assert.IsNotNull(fake.Train);
        Assert.IsNull(fake.Validation);
        Assert.AreEqual(20, fake.Train.Count);
        CollectionAssert.AreEqual(rows.SelectMany(r => r.Features).ToArray(), fake.Train.Images);
        // MapValueToKey numbers values by first appearance: circle, square, triangle / small, large.
        CollectionAssert.AreEqual(rows.Select(r => Array.IndexOf(Shapes, r.Shape)).ToArray(), fake.Train.Labels[0]);
        CollectionAssert.AreEqual(rows.Select(r => Array.IndexOf(Sizes, r.Size)).ToArray(), fake.Train.Labels[1]);
        CollectionAssert.AreEqual(Shapes, fake.Train.Tasks[0].ClassNames.ToArray());
        Assert.AreEqual(3, fake.Options!.Tasks[0].NumClasses);
        Assert.IsTrue(progress.Any(p => p.ToString().Contains("a 0.500")));
        Assert.IsTrue(log.Any(m => m.Contains("a 0.500")), "progress reaches MLContext.Log");
        Assert.IsNotNull(t.TrainingOptions);
        Assert.AreEqual(3, t.TrainingOptions.Seed);
    }

    [TestMethod]
    public void Fit_HoldsOutAValidationFraction()
    {
        var ml = new MLContext(1);
        var fake = new FakeTrainer();
        new ControllableMultiTaskEstimator(ml, Options(), fake.Run).Fit(Keyed(ml, Rows(20)));
        Assert.AreEqual(16, fake.Train!.Count);
        Assert.AreEqual(4, fake.Validation!.Count);
    }

    [TestMethod]
    public void Options_BatchSizeOne_IsRejectedNamingTheEstimatorOption()
    {
        ControllableMultiTaskEstimator.Options o = Options();
        o.BatchSize = 1;
        var e = Assert.ThrowsExactly<ArgumentException>(() => new ControllableMultiTaskEstimator(new MLContext(1), o));
        StringAssert.Contains(e.Message, "Options.BatchSize must be at least 2");
        Assert.AreEqual("BatchSize", e.ParamName);
    }

    [TestMethod]
    public void Fit_ValidationFractionZero_HoldsOutNothing_AndSaysWhatCalibrates()
    {
        var ml = new MLContext(1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        var fake = new FakeTrainer();
        ControllableMultiTaskEstimator.Options o = Options();
        o.ValidationFraction = 0;
        new ControllableMultiTaskEstimator(ml, o, fake.Run).Fit(Keyed(ml, Rows(20)));
        Assert.AreEqual(20, fake.Train!.Count);
        Assert.IsNull(fake.Validation);
        Assert.IsTrue(log.Any(m => m.Contains("none held out (Options.ValidationFraction = 0)", StringComparison.Ordinal) &&
            m.Contains("calibration table on the training images", StringComparison.Ordinal)));
    }

    [TestMethod]
    public void CatalogEntryPoint_UsesTheBuiltInTrainer()
    {
        var ml = new MLContext(1);
        var est = ml.MulticlassClassification.Trainers.ControllableMultiTask(Options());
        // The built-in trainer is reached: it rejects the test's 3x4 images, naming the shape it got.
        var e = Assert.ThrowsExactly<ArgumentException>(() => est.Fit(Keyed(ml, Rows(10))));
        StringAssert.Contains(e.Message, "(1, 3, 4)");
        Assert.IsTrue(ml.IsMLNetSlimRegistered());
    }

    [TestMethod]
    public void Fit_MissingKeyLabel_IsAMissingLabel_ClassIndexMinusOne()
    {
        var ml = new MLContext(1);
        Row[] rows = Rows(12);
        IDataView raw = Raw(ml, rows);
        // Build the Shape dictionary without "triangle": those rows get key 0 (missing), which the trainer receives as
        // class index -1 (the row does not label that task; docs/data.md).
        IDataView dictionary = Raw(ml, rows.Where(r => r.Shape != "triangle"));
        var keys = ml.Transforms.Conversion.MapValueToKey("Shape", keyData: ml.Transforms.SelectColumns("Shape").Fit(dictionary).Transform(dictionary))
            .Append(ml.Transforms.Conversion.MapValueToKey("Size")).Fit(raw).Transform(raw);
        var trainer = new FakeTrainer();
        ControllableMultiTaskEstimator.Options options = Options();
        options.ValidationFraction = 0;
        new ControllableMultiTaskEstimator(ml, options, trainer.Run).Fit(keys);
        int[] shape = trainer.Train!.Labels[0];
        Assert.AreEqual(12, shape.Length);
        for (int i = 0; i < 12; i++)
            Assert.AreEqual(rows[i].Shape == "triangle", shape[i] == -1, $"row {i} ({rows[i].Shape}): label {shape[i]}");
        Assert.IsTrue(trainer.Train.Labels[1].All(y => y >= 0), "the other task keeps its labels");
    }

    [TestMethod]
    public void Fit_SchemaErrors_NameColumnExpectedAndActual()
    {
        var ml = new MLContext(1);
        var est = new ControllableMultiTaskEstimator(ml, Options(), new FakeTrainer().Run);
        IDataView keyed = Keyed(ml, Rows(6));

        var missing = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => est.Fit(ml.Transforms.DropColumns("Features").Fit(keyed).Transform(keyed)));
        StringAssert.Contains(missing.Message, "Features column 'Features' not found");

        IDataView doubles = ml.Transforms.Conversion.ConvertType("Features", outputKind: DataKind.Double).Fit(keyed).Transform(keyed);
        var wrongType = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => est.Fit(doubles));
        StringAssert.Contains(wrongType.Message, "expected Vector<Single, 12>");
        StringAssert.Contains(wrongType.Message, "got Vector<Double, 12>");

        var o = Options();
        o.ImageWidth = 5;
        var wrongSize = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ControllableMultiTaskEstimator(ml, o, new FakeTrainer().Run).Fit(keyed));
        StringAssert.Contains(wrongSize.Message, "expected Vector<Single, 15>");
        StringAssert.Contains(wrongSize.Message, "got Vector<Single, 12>");

        IDataView raw = Raw(ml, Rows(6));
        var notKey = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => est.Fit(raw));
        StringAssert.Contains(notKey.Message, "label column 'Shape'");
        StringAssert.Contains(notKey.Message, "mlContext.Transforms.Conversion.MapValueToKey(\"Shape\")");

        var o2 = Options();
        o2.Tasks[1].LabelColumnName = "Colour";
        var noLabel = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ControllableMultiTaskEstimator(ml, o2, new FakeTrainer().Run).Fit(keyed));
        StringAssert.Contains(noLabel.Message, "Label column 'Colour' of task 'Size' not found");

        var o3 = Options();
        o3.Tasks[0].NumClasses = 4;
        var count = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new ControllableMultiTaskEstimator(ml, o3, new FakeTrainer().Run).Fit(keyed));
        StringAssert.Contains(count.Message, "NumClasses = 4");
    }

    [TestMethod]
    public void Options_AreValidated()
    {
        var ml = new MLContext(1);
        var o = Options();
        o.Device = "tpu";
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new ControllableMultiTaskEstimator(ml, o)).Message, "Device");
        o = Options();
        o.Tasks.Add(new("Shape"));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => new ControllableMultiTaskEstimator(ml, o)).Message, "twice");
        o = Options();
        o.Device = "cuda:1";
        _ = new ControllableMultiTaskEstimator(ml, o);
    }

    [TestMethod]
    public void EstimatorShape_AgreesWithTransformerSchema()
    {
        var ml = new MLContext(1);
        IDataView keyed = Keyed(ml, Rows(9));
        var est = new ControllableMultiTaskEstimator(ml, Options(), new FakeTrainer().Run);
        SchemaShape fromEstimator = est.GetOutputSchema(MLNetInternals.ToShape(keyed.Schema));
        SchemaShape fromTransformer = MLNetInternals.ToShape(est.Fit(keyed).GetOutputSchema(keyed.Schema));
        Assert.AreEqual(fromTransformer.Count, fromEstimator.Count);
        for (int i = 0; i < fromEstimator.Count; i++)
        {
            SchemaShape.Column a = fromEstimator[i], b = fromTransformer[i];
            Assert.AreEqual(b.Name, a.Name);
            Assert.AreEqual(b.Kind, a.Kind, a.Name);
            Assert.AreEqual(b.ItemType, a.ItemType, a.Name);
            Assert.AreEqual(b.IsKey, a.IsKey, a.Name);
            CollectionAssert.AreEqual(b.Annotations.Select(x => x.Name).ToArray(), a.Annotations.Select(x => x.Name).ToArray(), a.Name);
        }
        var applied = ml.Transforms.ApplyControllableMultiTaskModel(TestModel());
        SchemaShape fromApplied = applied.GetOutputSchema(MLNetInternals.ToShape(keyed.Schema));
        CollectionAssert.AreEqual(fromEstimator.Select(c => c.Name).ToArray(), fromApplied.Select(c => c.Name).ToArray());
        var bad = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => est.GetOutputSchema(MLNetInternals.ToShape(Raw(ml, Rows(3)).Schema)));
        StringAssert.Contains(bad.Message, "MapValueToKey(\"Shape\")");
    }

    private sealed class SyncProgress(List<TrainingProgress> sink) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => sink.Add(value);
    }
}
