using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Testing;
using static MLNetSlim.Tests.MLNet.MLNetTestData;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.MLNet;

[TestClass]
public class TransformerTests
{
    public sealed class Prediction
    {
        [ColumnName("Score.Shape")] public float[] ShapeScore { get; set; } = Array.Empty<float>();
        [ColumnName("PredictedLabel.Shape")] public uint ShapeKey { get; set; }
        [ColumnName("ShapeName")] public string ShapeName { get; set; } = "";
        public int Id { get; set; }
    }

    [TestMethod]
    public void GetControllableMultiTaskTransformer_FindsItAloneOrInNestedChains_AndNamesWhatIsWrong()
    {
        var ml = new MLContext(1);
        var t = new ControllableMultiTaskTransformer(TestModel());
        ITransformer other = ml.Transforms.CopyColumns("X", "Features").Fit(Keyed(ml, Rows(3)));
        Assert.AreSame(t, ((ITransformer)t).GetControllableMultiTaskTransformer());
        ITransformer nested = new TransformerChain<ITransformer>(other, new TransformerChain<ITransformer>(other, t));
        Assert.AreSame(t, nested.GetControllableMultiTaskTransformer());
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => other.GetControllableMultiTaskTransformer()).Message, "holds no");
        ITransformer two = new TransformerChain<ITransformer>(t, new ControllableMultiTaskTransformer(TestModel()));
        StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => two.GetControllableMultiTaskTransformer()).Message, "holds 2");
    }

    [TestMethod]
    public void OutputSchema_AddsScoreAndKeyColumnsWithAnnotations_AndKeepsInputIndices()
    {
        var ml = new MLContext(1);
        IDataView data = Keyed(ml, Rows(5));
        var t = new ControllableMultiTaskTransformer(TestModel());
        DataViewSchema s = t.GetOutputSchema(data.Schema);
        for (int i = 0; i < data.Schema.Count; i++)
            Assert.AreEqual(data.Schema[i].Name, s[i].Name);
        DataViewSchema.Column score = s["Score.Shape"];
        Assert.AreEqual(new VectorDataViewType(NumberDataViewType.Single, 3), score.Type);
        VBuffer<ReadOnlyMemory<char>> names = default;
        score.GetSlotNames(ref names);
        CollectionAssert.AreEqual(Shapes, names.DenseValues().Select(m => m.ToString()).ToArray());
        DataViewSchema.Column label = s["PredictedLabel.Size"];
        Assert.AreEqual(new KeyDataViewType(typeof(uint), 2), label.Type);
        label.GetKeyValues(ref names);
        CollectionAssert.AreEqual(Sizes, names.DenseValues().Select(m => m.ToString()).ToArray());
        Assert.AreEqual(data.Schema.Count + 4, s.Count);
        Assert.AreEqual(s.Count, t.Transform(data).Schema.Count);
    }

    [TestMethod]
    public void Transform_RunsInBatches_AndMatchesThePredictionEngine()
    {
        var ml = new MLContext(1);
        LinearMultiTaskModel model = TestModel();
        var t = new ControllableMultiTaskTransformer(model) { BatchSize = 64 };
        Row[] rows = Rows(150);
        IDataView scored = t.Transform(Raw(ml, rows));
        (List<float[]> scores, List<uint> labels) = Read(scored, "Shape");
        Assert.AreEqual(150, scores.Count);
        Assert.AreEqual(3, model.PredictCalls, "150 rows in batches of 64 = 3 forward passes");

        // Pass-through columns still line up with their rows after read-ahead.
        int[] ids = ml.Data.CreateEnumerable<Row>(scored, reuseRowObject: false).Select(r => r.Id).ToArray();
        CollectionAssert.AreEqual(rows.Select(r => r.Id).ToArray(), ids);

        ITransformer pipeline = t.Append(ml.Transforms.Conversion.MapKeyToValue("ShapeName", "PredictedLabel.Shape").Fit(scored));
        using var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(pipeline, inputSchemaDefinition: Schema());
        for (int i = 0; i < 20; i++)
        {
            Prediction p = engine.Predict(rows[i]);
            CollectionAssert.AreEqual(Bits(scores[i]), Bits(p.ShapeScore), $"row {i}");
            Assert.AreEqual(labels[i], p.ShapeKey);
            Assert.AreEqual(Shapes[labels[i] - 1], p.ShapeName);
            Assert.AreEqual(rows[i].Id, p.Id);
            Assert.AreEqual(Array.IndexOf(scores[i], scores[i].Max()) + 1, (int)p.ShapeKey);
        }
    }

    [TestMethod]
    public void BudgetAndWeights_RecomputeTheConfiguration_AndTakeEffectAsDocumented()
    {
        var ml = new MLContext(1);
        LinearMultiTaskModel model = TestModel();
        var t = new ControllableMultiTaskTransformer(model);
        Assert.AreEqual(WidthSetFull(), t.Configuration.ToString());
        Assert.AreEqual(model.Costs.FullMacs, t.ConfigurationMacs);

        Row[] rows = Rows(10);
        IDataView scored = t.Transform(Raw(ml, rows));
        using var engine = ml.Model.CreatePredictionEngine<Row, Prediction>(t, inputSchemaDefinition: Schema());
        float[] fullEngine = engine.Predict(rows[0]).ShapeScore;

        DataViewSchema.Column col = scored.Schema["Score.Shape"];
        using DataViewRowCursor open = scored.GetRowCursor(new[] { col });
        t.Budget = Budget.FractionOfFull(0.3);
        Assert.IsTrue(t.ConfigurationMacs <= 0.3 * model.Costs.FullMacs);
        Assert.AreEqual(model.Costs.Macs(t.Configuration), t.ConfigurationMacs);
        Assert.AreNotEqual(WidthSetFull(), t.Configuration.ToString());

        // An open cursor keeps the configuration it started with; a new one uses the new configuration.
        var get = open.GetGetter<VBuffer<float>>(col);
        VBuffer<float> v = default;
        open.MoveNext();
        get(ref v);
        float[] reduced = Read(scored, "Shape").Scores[0];
        CollectionAssert.AreEqual(Bits(fullEngine), Bits(v.DenseValues()));
        CollectionAssert.AreNotEqual(Bits(fullEngine), Bits(reduced));
        // The existing prediction engine sees the change on its next call.
        CollectionAssert.AreEqual(Bits(reduced), Bits(engine.Predict(rows[0]).ShapeScore));

        WidthConfiguration before = t.Configuration;
        t.TaskWeights = new Dictionary<string, double> { ["Shape"] = 1, ["Size"] = 0 };
        Assert.AreEqual(0.0, t.TaskWeights["Size"]);
        Assert.AreEqual(model.SelectConfiguration(t.Budget, new[] { 1.0, 0.0 }).Widths, t.Configuration);
        Assert.AreNotEqual(before, t.Configuration);

        var unknown = Assert.ThrowsExactly<ArgumentException>(() => t.TaskWeights = new Dictionary<string, double> { ["Colour"] = 1 });
        StringAssert.Contains(unknown.Message, "Unknown task 'Colour'");
        StringAssert.Contains(unknown.Message, "[Shape, Size]");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t.TaskWeights = new Dictionary<string, double> { ["Shape"] = -1 });
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t.TaskWeights = new Dictionary<string, double> { ["Shape"] = 0 });
        var tooSmall = Assert.ThrowsExactly<BudgetInfeasibleException>(() => t.Budget = Budget.Macs(10));
        StringAssert.Contains(tooSmall.Message, "below the smallest");
        Assert.AreEqual(Budget.FractionOfFull(0.3), t.Budget, "a rejected budget leaves the control unchanged");
    }

    [TestMethod]
    public void TransformAndSchemaErrors_NameColumnExpectedAndActual()
    {
        var ml = new MLContext(1);
        var t = new ControllableMultiTaskTransformer(TestModel(), "Pixels");
        IDataView data = Raw(ml, Rows(3));
        var missing = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t.Transform(data));
        StringAssert.Contains(missing.Message, "Features column 'Pixels' not found");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t.GetOutputSchema(data.Schema));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t.GetRowToRowMapper(data.Schema));

        var t2 = new ControllableMultiTaskTransformer(TestModel());
        IDataView wrongSize = Raw(ml, Rows(3).Select(r => { r.Features = r.Features.Concat(new[] { 0f }).ToArray(); return r; }), Size + 1);
        var size = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t2.Transform(wrongSize));
        StringAssert.Contains(size.Message, "expected Vector<Single, 12>");
        StringAssert.Contains(size.Message, "got Vector<Single, 13>");
        IDataView doubles = ml.Transforms.Conversion.ConvertType("Features", outputKind: DataKind.Double).Fit(data).Transform(data);
        var type = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t2.GetOutputSchema(doubles.Schema));
        StringAssert.Contains(type.Message, "got Vector<Double, 12>");
    }

    [TestMethod]
    public void ApplyControllableMultiTaskModel_FitsWithoutTraining()
    {
        var ml = new MLContext(1);
        LinearMultiTaskModel model = TestModel();
        ControllableMultiTaskTransformer t = ml.Transforms.ApplyControllableMultiTaskModel(model).Fit(Raw(ml, Rows(3)));
        Assert.AreSame(model, t.Model);
        Assert.IsNull(t.TrainingOptions);
        Assert.IsTrue(ml.IsMLNetSlimRegistered());
    }

    internal static SchemaDefinition Schema()
    {
        SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, Size);
        return def;
    }

    private static string WidthSetFull() => "enc=1 dec=1,1";
}
