using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Model;
using MLNetSlim.MLNet;
using MLNetSlim.Network;
using MLNetSlim.Serving;
using MLNetSlim.Testing;
using static MLNetSlim.Tests.MLNet.MLNetTestData;

namespace MLNetSlim.Tests.MLNet;

/// <summary>Issue 9, item 4: the optional Budget / TaskWeights input columns.</summary>
[TestClass]
public class PerRowControlTests
{
    public sealed class ControlRow
    {
        [VectorType(Size)] public float[] Features { get; set; } = Array.Empty<float>();
        public float Budget { get; set; } = 1f;
        public float[] TaskWeights { get; set; } = Array.Empty<float>();
        public int Id { get; set; }
    }

    public sealed class BudgetOnlyRow
    {
        [VectorType(Size)] public float[] Features { get; set; } = Array.Empty<float>();
        public float Budget { get; set; } = 1f;
    }

    public sealed class Output
    {
        [ColumnName("Score.Shape")] public float[] Shape { get; set; } = Array.Empty<float>();
        [ColumnName("Score.Size")] public float[] Size { get; set; } = Array.Empty<float>();
    }

    private static ControlRow[] ControlRows(int n, Func<int, float> budget, Func<int, float[]>? weights = null) =>
        Rows(n).Select((r, i) => new ControlRow { Features = r.Features, Budget = budget(i), TaskWeights = weights?.Invoke(i) ?? Array.Empty<float>(), Id = i }).ToArray();

    /// <summary>Scores of one image at a fixed control, through a transformer with no control columns in its input.</summary>
    private static int[] Expected(LinearMultiTaskModel model, float[] image, Budget budget, IReadOnlyDictionary<string, double>? weights)
    {
        ResolvedConfiguration c = model.SelectConfiguration(budget, (weights is null ? new[] { 1.0, 1.0 } : new[] { weights["Shape"], weights["Size"] }));
        float[][] p = model.Predict(image, 1, c);
        return Bits(p[0].Concat(p[1]));
    }

    [TestMethod]
    public void RowsWithControlColumns_RunAtTheirOwnConfiguration_OthersUseTheTransformersControl()
    {
        var ml = new MLContext(1);
        LinearMultiTaskModel model = TestModel();
        var t = new ControllableMultiTaskTransformer(model, budget: Budget.FractionOfFull(0.9));
        var weights = new Dictionary<string, double> { ["Shape"] = 1, ["Size"] = 0 };
        ControlRow[] rows = ControlRows(6, i => i % 2 == 0 ? 0.3f : 0.7f, i => i < 3 ? new[] { 1f, 0f } : Array.Empty<float>());
        using var engine = ml.Model.CreatePredictionEngine<ControlRow, Output>(t);
        for (int i = 0; i < rows.Length; i++)
        {
            Output o = engine.Predict(rows[i]);
            // An empty weights vector means "the transformer's weights" (every task 1.0 here).
            int[] expected = Expected(model, rows[i].Features, Budget.FractionOfFull(rows[i].Budget), i < 3 ? weights : null);
            CollectionAssert.AreEqual(expected, Bits(o.Shape.Concat(o.Size)), $"row {i}");
        }
        Assert.AreNotEqual(model.SelectConfiguration(Budget.FractionOfFull(0.3), [1.0, 1.0]), model.SelectConfiguration(Budget.FractionOfFull(0.7), [1.0, 1.0]),
            "the two budgets must choose different configurations for this test to mean anything");

        // Budget column only: the weights come from the transformer's control.
        t.TaskWeights = weights;
        using var budgetOnly = ml.Model.CreatePredictionEngine<BudgetOnlyRow, Output>(t);
        Output b = budgetOnly.Predict(new BudgetOnlyRow { Features = rows[0].Features, Budget = 0.3f });
        CollectionAssert.AreEqual(Expected(model, rows[0].Features, Budget.FractionOfFull(0.3), weights), Bits(b.Shape.Concat(b.Size)));

        // No control column at all: the transformer's control (existing behaviour).
        using var plain = ml.Model.CreatePredictionEngine<Row, Prediction>(t, inputSchemaDefinition: TransformerTests.Schema());
        float[] shape = plain.Predict(Rows(1)[0]).ShapeScore;
        float[][] direct = model.Predict(Rows(1)[0].Features, 1, t.Control.Selected);
        CollectionAssert.AreEqual(Bits(direct[0]), Bits(shape));
    }

    public sealed class Prediction
    {
        [ColumnName("Score.Shape")] public float[] ShapeScore { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void Transform_GroupsMixedBatchesByConfiguration_AndKeepsRowOrder()
    {
        var ml = new MLContext(1);
        LinearMultiTaskModel model = TestModel();
        var t = new ControllableMultiTaskTransformer(model) { BatchSize = 16 };
        ControlRow[] rows = ControlRows(40, i => i % 2 == 0 ? 0.3f : 0.7f, i => i % 5 == 0 ? new[] { 0f, 2f } : Array.Empty<float>());
        IDataView scored = t.Transform(ml.Data.LoadFromEnumerable(rows));
        (List<float[]> shape, _) = Read(scored, "Shape");
        (List<float[]> size, _) = Read(scored, "Size");
        int[] ids = ml.Data.CreateEnumerable<ControlRow>(scored, reuseRowObject: false).Select(r => r.Id).ToArray();
        CollectionAssert.AreEqual(Enumerable.Range(0, 40).ToArray(), ids);
        for (int i = 0; i < rows.Length; i++)
        {
            var w = i % 5 == 0 ? new Dictionary<string, double> { ["Shape"] = 0, ["Size"] = 2 } : null;
            CollectionAssert.AreEqual(Expected(model, rows[i].Features, Budget.FractionOfFull(rows[i].Budget), w), Bits(shape[i].Concat(size[i])), $"row {i}");
        }

        // One forward pass per distinct configuration per batch: rows 0..15 hold 3 or 4 distinct (budget, weights)
        // pairs, so never one pass per row; every pass is one configuration.
        model.Calls.Clear();
        _ = Read(scored, "Shape");
        (int Rows, ResolvedConfiguration Configuration)[] calls = model.Calls.ToArray();
        Assert.AreEqual(40, calls.Sum(c => c.Rows));
        int distinctPerBatch = Enumerable.Range(0, 3).Sum(b => rows.Skip(16 * b).Take(16)
            .Select(r => model.SelectConfiguration(Budget.FractionOfFull(r.Budget), r.TaskWeights.Length == 0 ? [1.0, 1.0] : r.TaskWeights.Select(x => (double)x).ToArray()))
            .Distinct().Count());
        Assert.AreEqual(distinctPerBatch, calls.Length);
        Assert.IsTrue(calls.Length < 12, $"{calls.Length} forward passes for 40 rows in 3 batches");
    }

    [TestMethod]
    public void BadRowValues_NameTheColumnTheRowValueAndTheValidRange()
    {
        var ml = new MLContext(1);
        LinearMultiTaskModel model = TestModel();
        var t = new ControllableMultiTaskTransformer(model);
        float[] image = Rows(1)[0].Features;
        using var engine = ml.Model.CreatePredictionEngine<ControlRow, Output>(t);
        double smallest = (double)model.Costs.SmallestMacs / model.Costs.FullMacs;

        foreach (float bad in new[] { float.NaN, 0f, -0.5f, 1.5f })
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => engine.Predict(new ControlRow { Features = image, Budget = bad }), $"budget {bad}");
            StringAssert.Contains(e.Message, "budget column 'Budget'");
            StringAssert.Contains(e.Message, $"holds {bad.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}");
            StringAssert.Contains(e.Message, "(0, 1]");
            StringAssert.Contains(e.Message, $"[{smallest.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}, 1]");
        }

        var infeasible = Assert.ThrowsExactly<BudgetInfeasibleException>(() => engine.Predict(new ControlRow { Features = image, Budget = 0.001f }));
        StringAssert.Contains(infeasible.Message, "budget column 'Budget' holds 0.001");
        StringAssert.Contains(infeasible.Message, "smallest feasible budget is " + infeasible.SmallestFeasible.Value.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Assert.AreEqual(smallest, infeasible.SmallestFeasible.Value, 1e-12);

        (float[] Weights, string Says)[] badWeights =
        {
            (new[] { -1f, 1f }, "task 0 is -1"),
            (new[] { 0f, 0f }, "all weights are zero"),
            (new[] { 1f, float.NaN }, "task 1 is NaN"),
            (new[] { 1f, float.PositiveInfinity }, "task 1 is ∞"),
            (new[] { 1f, 1f, 1f }, "holds 3 values [1, 1, 1]; it needs 2"),
        };
        foreach ((float[] w, string says) in badWeights)
        {
            var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => engine.Predict(new ControlRow { Features = image, TaskWeights = w }), says);
            StringAssert.Contains(e.Message, "task weights column 'TaskWeights'");
            StringAssert.Contains(e.Message, says.Replace("∞", double.PositiveInfinity.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            StringAssert.Contains(e.Message, TaskPreferences.ValidRange);
        }

        // The batched path reports the row position too.
        ControlRow[] rows = ControlRows(5, i => i == 3 ? 2f : 0.5f);
        var batch = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Read(t.Transform(ml.Data.LoadFromEnumerable(rows)), "Shape"));
        StringAssert.Contains(batch.Message, "Row 3: the budget column 'Budget' holds 2");
    }

    public sealed class DoubleBudgetRow
    {
        [VectorType(Size)] public float[] Features { get; set; } = Array.Empty<float>();
        public double Budget { get; set; }
    }

    public sealed class FixedWeightsRow
    {
        [VectorType(Size)] public float[] Features { get; set; } = Array.Empty<float>();
        [VectorType(3)] public float[] TaskWeights { get; set; } = Array.Empty<float>();
    }

    [TestMethod]
    public void ControlColumnsOfTheWrongType_AreSchemaErrors_AndCanBeRenamedOrTurnedOff()
    {
        var ml = new MLContext(1);
        var t = new ControllableMultiTaskTransformer(TestModel());
        IDataView doubles = ml.Data.LoadFromEnumerable(new[] { new DoubleBudgetRow { Features = new float[Size], Budget = 0.5 } });
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t.GetOutputSchema(doubles.Schema));
        StringAssert.Contains(e.Message, "budget column 'Budget': expected Single");
        StringAssert.Contains(e.Message, "got Double");
        IDataView three = ml.Data.LoadFromEnumerable(new[] { new FixedWeightsRow { Features = new float[Size], TaskWeights = new float[3] } });
        var w = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t.Transform(three));
        StringAssert.Contains(w.Message, "task weights column 'TaskWeights': expected Vector<Single, 2>");
        StringAssert.Contains(w.Message, "got Vector<Single, 3>");

        // Turned off: the column passes through, the transformer's control applies.
        t.BudgetColumnName = null;
        t.TaskWeightsColumnName = "Weights";
        Assert.AreEqual(doubles.Schema.Count + 4, t.GetOutputSchema(doubles.Schema).Count);
        Assert.AreEqual(three.Schema.Count + 4, t.Transform(three).Schema.Count);
    }

    [TestMethod]
    public void ColumnNames_FlowFromTheEstimatorOptions_AndAreSavedWithTheModel_OldModelsDefault()
    {
        MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
        var ml = new MLContext(1);
        ControllableMultiTaskEstimator.Options options = Options();
        options.BudgetColumnName = "B";
        options.TaskWeightsColumnName = null;
        ControllableMultiTaskTransformer t = new ControllableMultiTaskEstimator(ml, options, new FakeTrainer().Run).Fit(Keyed(ml, Rows(20)));
        Assert.AreEqual("B", t.BudgetColumnName);
        Assert.IsNull(t.TaskWeightsColumnName);
        IDataView raw = Raw(ml, Rows(3));
        string path = Path.Combine(TestData.TempRoot, $"mlnetslim-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.Save(t, raw.Schema, path);
            var t2 = (ControllableMultiTaskTransformer)new MLContext(2).AddMLNetSlim().Model.Load(path, out _);
            Assert.AreEqual("B", t2.BudgetColumnName);
            Assert.IsNull(t2.TaskWeightsColumnName);

            // A model written in format 1.1 (before per-row control) loads with the default names.
            t.SaveFormatVersion = ControllableMultiTaskTransformer.FormatVersion11;
            ml.Model.Save(t, raw.Schema, path);
            var old = (ControllableMultiTaskTransformer)new MLContext(3).AddMLNetSlim().Model.Load(path, out _);
            Assert.AreEqual(ControllableMultiTaskTransformer.DefaultBudgetColumnName, old.BudgetColumnName);
            Assert.AreEqual(ControllableMultiTaskTransformer.DefaultTaskWeightsColumnName, old.TaskWeightsColumnName);
            Assert.AreEqual(t.Configuration, old.Configuration);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void ConfigurationCache_IsBounded_AndAnswersLikeTheSearch_FromManyThreads()
    {
        LinearMultiTaskModel model = TestModel();
        var cache = new ConfigurationCache(capacity: 8);
        double[] budgets = Enumerable.Range(1, 40).Select(i => 0.28 + i * 0.018).ToArray();
        Parallel.For(0, 4000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            Budget b = Budget.FractionOfFull(budgets[i % budgets.Length]);
            double[] w = i % 3 == 0 ? [1.0, 0.0] : [1.0, 1.0];
            ResolvedConfiguration c = cache.GetOrAdd(b, w, model.SelectConfiguration);
            Assert.AreEqual(model.SelectConfiguration(b, w), c);
            Assert.IsTrue(cache.Count <= 8 + 8, $"{cache.Count} entries"); // at most capacity + racing adders
        });
        Assert.IsTrue(cache.Count <= 8);
    }
}
