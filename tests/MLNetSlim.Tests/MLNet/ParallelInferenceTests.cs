using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Control;
using MLNetSlim.Model;
using MLNetSlim.MLNet;
using MLNetSlim.Network;
using MLNetSlim.Network.Backbones;
using MLNetSlim.Runtime;
using MLNetSlim.Testing;
using MLNetSlim.Training;
using static MLNetSlim.Tests.MLNet.MLNetTestData;

namespace MLNetSlim.Tests.MLNet;

/// <summary>Issue 9, items 3 and 5: atomic control and parallel inference from one loaded model (a tiny TorchSharp
/// network: correctness, not speed).</summary>
[TestClass]
public class ParallelInferenceTests
{
    private const int Pixels = 8 * 8;

    public sealed class Input
    {
        [VectorType(Pixels)] public float[] Features { get; set; } = Array.Empty<float>();
        public float Budget { get; set; } = 1f;
    }

    public sealed class PlainInput
    {
        [VectorType(Pixels)] public float[] Features { get; set; } = Array.Empty<float>();
    }

    public sealed class Output
    {
        [ColumnName("Score.a")] public float[] A { get; set; } = Array.Empty<float>();
        [ColumnName("Score.b")] public float[] B { get; set; } = Array.Empty<float>();

        public int[] Bits() => MLNetTestData.Bits(A.Concat(B));
    }

    /// <summary>An untrained two-task SmallConvNet on 1x8x8 images with a synthetic calibration table in which wider is
    /// better and task a gains more from width than task b, so budgets and weights choose different configurations.</summary>
    internal static ControllableMultiTaskModel TinyModel()
    {
        var options = new NetworkOptions
        {
            Tasks = [new TaskDefinition("a", TaskKind.Classification, 4), new TaskDefinition("b", TaskKind.Classification, 3)],
            Channels = 1,
            Height = 8,
            Width = 8,
            Backbone = new BackboneOptions { StageChannels = [8, 16, 16], StageDepths = [1, 1, 1] },
        };
        MultiTaskNetwork network = SupernetTrainer.CreateNetwork(options, 5);
        CalibrationTable table = CalibrationTable.Calibrate(network.CostTable, [true, true],
            (e, d) => [0.4 + 0.08 * e + 0.06 * d, 0.5 + 0.05 * e + 0.03 * d]);
        return ControllableMultiTaskModel.FromParts(network, table);
    }

    private static float[][] Images(int n)
    {
        var rng = new Random(3);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, Pixels).Select(_ => (float)rng.NextDouble()).ToArray()).ToArray();
    }

    [TestMethod]
    public void EightThreads_ThousandPredictionsEach_PerRowBudgetsAlternating_MatchTheSequentialResultsBitForBit()
    {
        using ControllableMultiTaskModel model = TinyModel();
        var ml = new MLContext(1);
        var t = new ControllableMultiTaskTransformer(model) { IntraOpThreads = 1 };
        float[] budgets = [0.3f, 0.8f];
        Assert.AreNotEqual(model.SelectConfiguration(Budget.FractionOfFull(budgets[0]), [1.0, 1.0]),
            model.SelectConfiguration(Budget.FractionOfFull(budgets[1]), [1.0, 1.0]), "the two budgets must choose different configurations");
        float[][] images = Images(4);

        // Sequential reference: one engine, every (image, budget).
        var expected = new int[images.Length, budgets.Length][];
        using (var engine = ml.Model.CreatePredictionEngine<Input, Output>(t))
            for (int i = 0; i < images.Length; i++)
                for (int b = 0; b < budgets.Length; b++)
                    expected[i, b] = engine.Predict(new Input { Features = images[i], Budget = budgets[b] }).Bits();
        for (int i = 0; i < images.Length; i++)
            CollectionAssert.AreNotEqual(expected[i, 0], expected[i, 1], "the two configurations must give different scores");

        const int threads = 8, predictions = 1000;
        var mismatches = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var start = new Barrier(threads);
        Thread[] workers = Enumerable.Range(0, threads).Select(k => new Thread(() =>
        {
            using var engine = ml.Model.CreatePredictionEngine<Input, Output>(t); // one engine per thread, one transformer
            var input = new Input();
            start.SignalAndWait();
            for (int n = 0; n < predictions; n++)
            {
                int i = (n + k) % images.Length, b = (n + k) % 2;
                input.Features = images[i];
                input.Budget = budgets[b];
                int[] got = engine.Predict(input).Bits();
                if (!got.AsSpan().SequenceEqual(expected[i, b])) mismatches.Add($"thread {k}, prediction {n}, image {i}, budget {budgets[b]}");
            }
        })).ToArray();
        foreach (Thread w in workers) w.Start();
        foreach (Thread w in workers) w.Join();
        Assert.IsEmpty(mismatches, string.Join("; ", mismatches.Take(5)));
    }

    [TestMethod]
    public void SetControl_IsAtomic_ConcurrentPredictionsSeeTheOldPairOrTheNewPair_NeverAMix()
    {
        using ControllableMultiTaskModel model = TinyModel();
        var ml = new MLContext(1);
        var t = new ControllableMultiTaskTransformer(model) { IntraOpThreads = 1 };
        float[] image = Images(1)[0];
        int[] At(Budget b, Dictionary<string, double> w)
        {
            t.SetControl(b, w);
            using var e = ml.Model.CreatePredictionEngine<PlainInput, Output>(t);
            return e.Predict(new PlainInput { Features = image }).Bits();
        }

        // Two pairs whose "mixes" (budget of one, weights of the other) choose configurations different from both
        // pairs, so a mixed prediction would be caught.
        Budget[] budgets = new[] { 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9 }.Select(Budget.FractionOfFull).ToArray();
        double[][] weights = [[1, 0], [0, 1], [1, 1], [4, 1], [1, 4]];
        ResolvedConfiguration C(Budget b, double[] w) => model.SelectConfiguration(b, w);
        (Budget B1, double[] W1, Budget B2, double[] W2)? found = null;
        foreach (Budget x in budgets)
            foreach (Budget y in budgets.Where(y => y.Value > x.Value))
                foreach (double[] u in weights)
                    foreach (double[] v in weights.Where(v => v != u))
                    {
                        ResolvedConfiguration c1 = C(x, u), c2 = C(y, v), m1 = C(x, v), m2 = C(y, u);
                        if (found is null && !c1.Equals(c2) && !m1.Equals(c1) && !m1.Equals(c2) && !m2.Equals(c1) && !m2.Equals(c2))
                            found = (x, u, y, v);
                    }
        Assert.IsNotNull(found, "no two (budget, weights) pairs whose mixes differ from both");
        (Budget b1, double[] u1, Budget b2, double[] u2) = found.Value;
        var w1 = new Dictionary<string, double> { ["a"] = u1[0], ["b"] = u1[1] };
        var w2 = new Dictionary<string, double> { ["a"] = u2[0], ["b"] = u2[1] };
        int[] p1 = At(b1, w1), p2 = At(b2, w2), mixA = At(b1, w2), mixB = At(b2, w1);
        foreach (int[] mix in new[] { mixA, mixB })
        {
            CollectionAssert.AreNotEqual(p1, mix, "a mix must be told apart from pair 1");
            CollectionAssert.AreNotEqual(p2, mix, "a mix must be told apart from pair 2");
        }
        t.SetControl(b1, w1);

        const int predictors = 3, predictions = 400;
        int done = 0;
        var bad = new System.Collections.Concurrent.ConcurrentBag<string>();
        int seen1 = 0, seen2 = 0;
        var setter = new Thread(() =>
        {
            for (int n = 0; Volatile.Read(ref done) < predictors; n++)
            {
                if (n % 2 == 0) t.SetControl(b2, w2);
                else t.SetControl(b1, w1);
                // The snapshot always belongs to one pair.
                ControlSnapshot c = t.Control;
                bool one = c.Budget == b1 && c.TaskWeights["a"] == u1[0] && c.TaskWeights["b"] == u1[1] && c.Selected.Equals(C(b1, u1));
                bool two = c.Budget == b2 && c.TaskWeights["a"] == u2[0] && c.TaskWeights["b"] == u2[1] && c.Selected.Equals(C(b2, u2));
                if (!one && !two) bad.Add($"snapshot {c}");
            }
        });
        Thread[] workers = Enumerable.Range(0, predictors).Select(k => new Thread(() =>
        {
            using var engine = ml.Model.CreatePredictionEngine<PlainInput, Output>(t);
            var input = new PlainInput { Features = image };
            for (int n = 0; n < predictions; n++)
            {
                int[] got = engine.Predict(input).Bits();
                if (got.AsSpan().SequenceEqual(p1)) Interlocked.Increment(ref seen1);
                else if (got.AsSpan().SequenceEqual(p2)) Interlocked.Increment(ref seen2);
                else bad.Add($"predictor {k}, prediction {n}: neither pair's result" + (got.AsSpan().SequenceEqual(mixA) || got.AsSpan().SequenceEqual(mixB) ? " (a mix)" : ""));
            }
            Interlocked.Increment(ref done);
        })).ToArray();
        setter.Start();
        foreach (Thread w in workers) w.Start();
        foreach (Thread w in workers) w.Join();
        setter.Join();
        Assert.IsEmpty(bad, string.Join("; ", bad.Take(5)));
        Assert.AreEqual(predictors * predictions, seen1 + seen2);
    }

    /// <summary>Blocks each Predict call until a second call is inside Predict at the same time (or 30 s pass).</summary>
    private sealed class Rendezvous(IMultiTaskModel inner) : IMultiTaskModel
    {
        private readonly Barrier _barrier = new(2);
        public bool Met { get; private set; }
        public IReadOnlyList<TaskDefinition> Tasks => inner.Tasks;
        public int Channels => inner.Channels;
        public int Height => inner.Height;
        public int Width => inner.Width;
        public CostTable Costs => inner.Costs;
        public ResolvedConfiguration SelectConfiguration(Budget budget, IReadOnlyList<double> taskPreferences) => inner.SelectConfiguration(budget, taskPreferences);
        public float[][] Predict(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration)
        {
            if (_barrier.SignalAndWait(TimeSpan.FromSeconds(30))) Met = true;
            return inner.Predict(images, count, configuration);
        }
        public void Save(Stream stream) => inner.Save(stream);
    }

    [TestMethod]
    public void TwoPredictionEngines_AreInsideTheModelAtTheSameTime_NoGlobalLock()
    {
        var model = new Rendezvous(TestModel());
        var ml = new MLContext(1);
        var t = new ControllableMultiTaskTransformer(model);
        Row row = Rows(1)[0];
        Thread[] workers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            using var engine = ml.Model.CreatePredictionEngine<Row, TransformerTests.Prediction>(t, inputSchemaDefinition: TransformerTests.Schema());
            engine.Predict(row);
        })).ToArray();
        foreach (Thread w in workers) w.Start();
        foreach (Thread w in workers) w.Join();
        Assert.IsTrue(model.Met, "the second prediction could not enter the model while the first was inside it");
    }

    [TestMethod]
    public void TorchThreadCount_IsKeptPerThread_OnceAThreadHasUsedTorch()
    {
        // The libtorch behaviour docs/mlnet-integration.md documents (and IntraOpThreads relies on): set_num_threads
        // changes the calling thread's count, and a thread that has already run torch keeps its own count when another
        // thread changes it.
        int original = TorchThreads.CurrentThreadCount;
        using var aSet = new ManualResetEventSlim();
        using var bSet = new ManualResetEventSlim();
        int aAfterB = -1, b = -1;
        var threadA = new Thread(() =>
        {
            TorchThreads.EnsureForCurrentThread(1);
            aSet.Set();
            bSet.Wait();
            aAfterB = TorchThreads.CurrentThreadCount;
        });
        var threadB = new Thread(() =>
        {
            aSet.Wait();
            _ = TorchThreads.CurrentThreadCount; // B has used torch before it changes its count
            TorchThreads.EnsureForCurrentThread(3);
            b = TorchThreads.CurrentThreadCount;
            bSet.Set();
        });
        threadA.Start();
        threadB.Start();
        threadA.Join();
        threadB.Join();
        Assert.AreEqual(3, b);
        Assert.AreEqual(1, aAfterB, "thread A kept its own count after thread B changed its");
        var restore = new Thread(() => TorchSharp.torch.set_num_threads(original));
        restore.Start();
        restore.Join();
    }

    [TestMethod]
    public void IntraOpThreads_AppliesToTheThreadThatPredicts()
    {
        using ControllableMultiTaskModel model = TinyModel();
        var ml = new MLContext(1);
        // The TorchSharp path (on the default ONNX Runtime path IntraOpThreads is the sessions' thread count instead).
        var t = new ControllableMultiTaskTransformer(model) { IntraOpThreads = 1, UseOnnxRuntime = false };
        int before = -1, after = -1;
        var worker = new Thread(() =>
        {
            before = TorchThreads.CurrentThreadCount;
            using var engine = ml.Model.CreatePredictionEngine<PlainInput, Output>(t);
            engine.Predict(new PlainInput { Features = Images(1)[0] });
            after = TorchThreads.CurrentThreadCount;
        });
        worker.Start();
        worker.Join();
        Assert.AreEqual(1, after);
        // Give the process default back (libtorch makes the last set_num_threads the default of new threads).
        var restore = new Thread(() => TorchSharp.torch.set_num_threads(before));
        restore.Start();
        restore.Join();
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => t.IntraOpThreads = -1);
    }
}
