using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Testing;
using static MLNetSlim.Tests.MLNet.MLNetTestData;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.Tests.MLNet;

[TestClass]
public class SaveLoadTests
{
    public TestContext TestContext { get; set; } = null!;

    private string TempZip() => Path.Combine(TestData.TempRoot, $"mlnetslim-{Guid.NewGuid():N}.zip");

    private static (ITransformer Chain, ControllableMultiTaskTransformer Cmt, IDataView Data) Trained(MLContext ml, Row[] rows)
    {
        IDataView keyed = Keyed(ml, rows);
        ControllableMultiTaskTransformer t = new ControllableMultiTaskEstimator(ml, Options(), new FakeTrainer().Run).Fit(keyed);
        t.Budget = Budget.FractionOfFull(0.5);
        t.TaskWeights = new Dictionary<string, double> { ["Shape"] = 2, ["Size"] = 0.5 };
        t.BatchSize = 7;
        IDataView raw = Raw(ml, rows);
        ITransformer chain = ml.Transforms.Conversion.MapValueToKey("Shape").Fit(raw).Append(t);
        return (chain, t, raw);
    }

    [TestMethod]
    public void SaveLoad_SameProcess_KeepsWeightsControlAndOptions_BitIdentical()
    {
        MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
        var ml = new MLContext(1);
        Row[] rows = Rows(40);
        (ITransformer chain, ControllableMultiTaskTransformer t, IDataView raw) = Trained(ml, rows);
        IDataView before = chain.Transform(raw);
        (List<float[]> s0, List<uint> l0) = Read(before, "Shape");
        string path = TempZip();
        try
        {
            ml.Model.Save(chain, raw.Schema, path);
            var ml2 = new MLContext(2).AddMLNetSlim();
            ITransformer loaded = ml2.Model.Load(path, out DataViewSchema schema);
            ControllableMultiTaskTransformer t2 = loaded.GetControllableMultiTaskTransformer();
            Assert.AreNotSame(t.Model, t2.Model);
            Assert.AreEqual(t.Budget, t2.Budget);
            CollectionAssert.AreEquivalent(t.TaskWeights.ToArray(), t2.TaskWeights.ToArray());
            Assert.AreEqual(t.Configuration, t2.Configuration);
            Assert.AreEqual(t.ConfigurationMacs, t2.ConfigurationMacs);
            Assert.AreEqual(7, t2.BatchSize);
            Assert.AreEqual(t.TrainingOptions!.ToJson(), t2.TrainingOptions!.ToJson());
            CollectionAssert.AreEqual(Shapes, t2.Tasks[0].ClassNames.ToArray());

            (List<float[]> s1, List<uint> l1) = Read(loaded.Transform(Raw(ml2, rows)), "Shape");
            CollectionAssert.AreEqual(Bits(s0.SelectMany(x => x)), Bits(s1.SelectMany(x => x)));
            CollectionAssert.AreEqual(l0, l1);
            Assert.AreEqual(raw.Schema.Count, schema.Count);

            // The single transformer saved on its own loads too.
            string single = TempZip();
            ml.Model.Save(t, raw.Schema, single);
            Assert.IsInstanceOfType<ControllableMultiTaskTransformer>(ml2.Model.Load(single, out _));
            File.Delete(single);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void Load_WithoutRegistration_SaysWhichCallToAdd()
    {
        MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
        var ml = new MLContext(1);
        (ITransformer chain, _, IDataView raw) = Trained(ml, Rows(12));
        string path = TempZip();
        try
        {
            ml.Model.Save(chain, raw.Schema, path);
            var fresh = new MLContext(1);
            Assert.IsFalse(fresh.IsMLNetSlimRegistered());
            var e = Assert.ThrowsExactly<InvalidOperationException>(() => fresh.Model.LoadChecked(path, out _));
            StringAssert.Contains(e.Message, "mlContext.AddMLNetSlim()");
            Assert.IsNotNull(e.InnerException, "ML.NET's own error is kept inside");
            Exception raw2 = Assert.Throws<Exception>(() => fresh.Model.Load(path, out _));
            StringAssert.Contains(fresh.ExplainLoadFailure(path, raw2)!.Message, "AddMLNetSlim()");
            Assert.IsNotNull(fresh.AddMLNetSlim().Model.LoadChecked(path, out _));
            Assert.IsNull(fresh.ExplainLoadFailure(path, raw2), "no advice once registered");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void Save_ModelTypeWithoutReader_FailsAtSave()
    {
        var ml = new MLContext(1);
        var t = new ControllableMultiTaskTransformer(new Unregistered(TestModel()));
        using var ms = new MemoryStream();
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.Model.Save(t, Raw(ml, Rows(2)).Schema, ms));
        StringAssert.Contains(e.Message, "MultiTaskModelLoaders.Register<Unregistered>");
    }

    [TestMethod]
    public void SaveLoad_FreshProcess_BitIdentical_AndForgottenRegistrationExplained()
    {
        MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
        var ml = new MLContext(1);
        Row[] rows = Rows(30);
        (_, ControllableMultiTaskTransformer t, IDataView raw) = Trained(ml, rows);
        // The host feeds only images, so save the transformer in a chain of its own.
        ITransformer chain = new TransformerChain<ITransformer>(t);
        IDataView before = chain.Transform(raw);
        string path = TempZip();
        string input = Path.ChangeExtension(path, ".json");
        try
        {
            ml.Model.Save(chain, raw.Schema, path);
            File.WriteAllText(input, JsonSerializer.Serialize(new { Features = rows.Select(r => r.Features) }));

            (int code, string stdout, string stderr) = RunHost(path, input);
            Assert.AreEqual(0, code, stderr);
            using JsonDocument doc = JsonDocument.Parse(stdout);
            JsonElement root = doc.RootElement;
            Assert.AreEqual(t.Configuration.ToString(), root.GetProperty("Configuration").GetString());
            Assert.AreEqual(t.Budget.ToString(), root.GetProperty("Budget").GetString());
            Assert.AreEqual(t.ConfigurationMacs, root.GetProperty("ConfigurationMacs").GetInt64());
            foreach (string task in new[] { "Shape", "Size" })
            {
                (List<float[]> s0, List<uint> l0) = Read(before, task);
                float[] s1 = root.GetProperty("Scores").GetProperty(task).EnumerateArray().SelectMany(a => a.EnumerateArray().Select(v => v.GetSingle())).ToArray();
                uint[] l1 = root.GetProperty("Labels").GetProperty(task).EnumerateArray().Select(v => v.GetUInt32()).ToArray();
                CollectionAssert.AreEqual(Bits(s0.SelectMany(x => x)), Bits(s1), task);
                CollectionAssert.AreEqual(l0.ToArray(), l1, task);
            }

            (code, _, stderr) = RunHost(path, input, "--no-register");
            Assert.AreEqual(1, code);
            StringAssert.Contains(stderr, "call mlContext.AddMLNetSlim()");
        }
        finally
        {
            File.Delete(path);
            File.Delete(input);
        }
    }

    private (int Code, string Stdout, string Stderr) RunHost(params string[] args) =>
        LoadHostRunner.Run(TestContext.CancellationToken, args);

    /// <summary>A model type no reader is registered for.</summary>
    private sealed class Unregistered(IMultiTaskModel inner) : IMultiTaskModel
    {
        public IReadOnlyList<TaskDefinition> Tasks => inner.Tasks;
        public int Channels => inner.Channels;
        public int Height => inner.Height;
        public int Width => inner.Width;
        public CostTable Costs => inner.Costs;
        public ResolvedConfiguration SelectConfiguration(Budget budget, IReadOnlyList<double> taskPreferences) => inner.SelectConfiguration(budget, taskPreferences);
        public float[][] Predict(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration) => inner.Predict(images, count, configuration);
        public void Save(Stream stream) => inner.Save(stream);
    }
}
