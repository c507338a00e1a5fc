using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Data;
using MLNetSlim.Fixtures;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Training;
using static MLNetSlim.Tests.MLNet.MLNetTestData;

namespace MLNetSlim.Tests.MLNet;

/// <summary>Streaming Fit (issue 10): batches from IDataView cursors above Options.InMemoryCacheLimitMB.</summary>
[TestClass]
public class StreamingTests
{
    private static TaskDefinition[] LazyTasks(int tasks = 2, int classes = 4) =>
        Enumerable.Range(0, tasks).Select(t => new TaskDefinition(LazyImageDataView.TaskName(t), TaskKind.Classification, classes,
            Enumerable.Range(0, classes).Select(k => k.ToString()).ToArray())).ToArray();

    private static ControllableMultiTaskEstimator.Options LazyOptions(int c, int h, int w) => new()
    {
        Tasks = { new(LazyImageDataView.TaskName(0)), new(LazyImageDataView.TaskName(1)) },
        ImageChannels = c,
        ImageHeight = h,
        ImageWidth = w,
        Epochs = 1,
        BatchSize = 8,
        Seed = 2,
        InMemoryCacheLimitMB = 0,
    };

    [TestMethod]
    public void InOrderPass_YieldsEveryRowOnce_WithItsLabels_AndAShuffledPassIsASeededPermutation()
    {
        var view = new LazyImageDataView(50, 1, 2, 3);
        var source = new DataViewBatches(view, LazyOptions(1, 2, 3), LazyTasks(), 50, shuffleBufferRows: 16);
        // (A batch is valid until the enumeration moves on: its buffer is then reused, so keep copies.)
        List<HostBatch> inOrder = source.Batches(8, null, dropLast: false).Select(b => b.Copy(6)).ToList();
        Assert.AreEqual(7, inOrder.Count);
        Assert.AreEqual(2, inOrder[^1].Count);
        var expected = new float[6];
        int row = 0;
        foreach (HostBatch b in inOrder)
            for (int i = 0; i < b.Count; i++, row++)
            {
                view.Fill(row, expected);
                CollectionAssert.AreEqual(expected, b.Images.AsSpan(i * 6, 6).ToArray());
                Assert.AreEqual(view.ClassOf(row, 1), b.ClassLabels[1]![i]);
            }

        // A shuffled pass: every row exactly once (full batches only), reproducible for the seed, not the source order.
        float[] Ids(int seed) => source.Batches(8, new Random(seed), dropLast: false).SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b.Images[i * 6])).ToArray();
        float[] first = Ids(1), again = Ids(1), other = Ids(2);
        float[] sourceOrder = inOrder.SelectMany(b => Enumerable.Range(0, b.Count).Select(i => b.Images[i * 6])).ToArray();
        CollectionAssert.AreEqual(first, again);
        CollectionAssert.AreNotEqual(sourceOrder, first);
        CollectionAssert.AreNotEqual(first, other);
        CollectionAssert.AreEquivalent(sourceOrder, first);
        Assert.AreEqual(48, source.Batches(8, new Random(1), dropLast: true).Sum(b => b.Count));
    }

    [TestMethod]
    public void StreamedFit_TrainsAndCalibrates_AndSaysItStreams()
    {
        var ml = new MLContext(1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        ControllableMultiTaskEstimator.Options o = LazyOptions(1, 8, 8);
        o.ValidationFraction = 0.25;
        ControllableMultiTaskTransformer t = ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(new LazyImageDataView(64, 1, 8, 8));
        Assert.IsTrue(log.Any(m => m.Contains("Streaming 48 training images") && m.Contains("16 images for calibration (streamed)")), string.Join("\n", log));
        var model = (ControllableMultiTaskModel)t.Model;
        Assert.AreEqual(2, model.Calibration.TaskCount);
    }

    /// <summary>Rows with 1x8x8 images (the real network needs H, W >= 4).</summary>
    private static (MLContext, Row[], ControllableMultiTaskEstimator.Options) Images8(int n)
    {
        var rng = new Random(4);
        Row[] rows = Rows(n);
        foreach (Row r in rows) r.Features = Enumerable.Range(0, 64).Select(_ => (float)rng.NextDouble()).ToArray();
        ControllableMultiTaskEstimator.Options o = Options();
        o.ImageHeight = o.ImageWidth = 8;
        o.BatchSize = 8;
        return (new MLContext(1), rows, o);
    }

    private static IDataView Keyed8(MLContext ml, Row[] rows)
    {
        IDataView raw = Raw(ml, rows, 64);
        return ml.Transforms.Conversion.MapValueToKey("Shape").Append(ml.Transforms.Conversion.MapValueToKey("Size")).Fit(raw).Transform(raw);
    }

    [TestMethod]
    public void CachedFit_IsBitIdenticalToTrainingTheInMemoryDataSet()
    {
        // The cached path (data under Options.InMemoryCacheLimitMB) trains exactly what ModelTrainer trains on the same
        // in-memory data set, split the same way.
        (MLContext ml, Row[] rows, ControllableMultiTaskEstimator.Options o) = Images8(60);
        o.Epochs = 2;
        IDataView data = Keyed8(ml, rows);
        ControllableMultiTaskTransformer fitted = ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(data);

        TaskDefinition[] tasks = DataViewConversion.ResolveTasks(data.Schema, o);
        MultiTaskDataset all = DataViewConversion.Read(data, o, tasks, default, out _);
        (MultiTaskDataset train, MultiTaskDataset validation) = all.Split(o.ValidationFraction, o.Seed!.Value);
        ControllableMultiTaskModel reference = ModelTrainer.Train(train, validation, BuiltInTrainer.ToModelOptions(o));
        CollectionAssert.AreEqual(WeightBits(reference), WeightBits((ControllableMultiTaskModel)fitted.Model));
    }

    internal static int[] WeightBits(ControllableMultiTaskModel model) =>
        model.Network.state_dict().Values.SelectMany(p => p.cpu().to_type(TorchSharp.torch.ScalarType.Float32).data<float>().ToArray())
            .Select(BitConverter.SingleToInt32Bits).ToArray();

    [TestMethod]
    public void StreamedHeldOutRows_AreTheRowsTheInMemorySplitHoldsOut()
    {
        var ml = new MLContext(1);
        var fake = new FakeTrainer();
        ControllableMultiTaskEstimator.Options o = Options();
        IDataView data = Keyed(ml, Rows(40));
        new ControllableMultiTaskEstimator(ml, o, fake.Run).Fit(data);
        float[] inMemory = fake.Validation!.Images;

        TaskDefinition[] tasks = DataViewConversion.ResolveTasks(data.Schema, o);
        int[] order = Enumerable.Range(0, 40).ToArray();
        new Random(o.Seed!.Value).Shuffle(order);
        int h = (int)Math.Round(0.2 * 40);
        var mask = new bool[40];
        foreach (int i in order[..h]) mask[i] = true;
        HostBatch batch = new DataViewBatches(data, o, tasks, h, 1, mask, includeValue: true).Batches(64, null, false).Select(b => b.Copy(Size)).Single();
        float[] streamed = batch.Images.AsSpan(0, batch.Count * Size).ToArray();
        // Same rows (the in-memory split lists them in permutation order, the stream in source order).
        CollectionAssert.AreEquivalent(Chunk(inMemory), Chunk(streamed));
    }

    private static string[] Chunk(float[] images) => images.Chunk(Size).Select(c => string.Join(",", c)).ToArray();

    [TestMethod]
    public void ANonFiniteValue_NamesTheColumnTheRowAndTheValue_BeforeTraining()
    {
        (MLContext ml, Row[] rows, ControllableMultiTaskEstimator.Options o) = Images8(40);
        rows[21].Features[5] = float.NaN;
        o.InMemoryCacheLimitMB = 0;
        o.ValidationFraction = 0;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(Keyed8(ml, rows)));
        StringAssert.Contains(e.Message, "Row 21 (0-based)");
        StringAssert.Contains(e.Message, "before the optimiser step");
        StringAssert.Contains(e.Message, "'Features'");
        StringAssert.Contains(e.Message, "holds NaN at position 5");
    }

    [TestMethod]
    public void AMissingKeyLabel_WhileStreaming_IsClassIndexMinusOne_AndFitTrains()
    {
        (MLContext ml, Row[] rows, ControllableMultiTaskEstimator.Options o) = Images8(40);
        IDataView raw = Raw(ml, rows, 64);
        // Keys built from rows without 'triangle': the triangle rows' Shape maps to the missing key 0 (issue 15: the row
        // does not label the task; no error).
        IDataView keyed = ml.Transforms.Conversion.MapValueToKey("Shape", keyData: ml.Data.LoadFromEnumerable(new[] { new { Shape = "circle" }, new { Shape = "square" } }))
            .Append(ml.Transforms.Conversion.MapValueToKey("Size")).Fit(raw).Transform(raw);
        o.InMemoryCacheLimitMB = 0;
        o.ValidationFraction = 0;
        TaskDefinition[] tasks = DataViewConversion.ResolveTasks(keyed.Schema, o);
        MultiTaskDataset streamed = InMemoryBatches.Collect(new DataViewBatches(keyed, o, tasks, rows.Length, 1), default);
        MultiTaskDataset cached = DataViewConversion.Read(keyed, o, tasks, default, out _);
        CollectionAssert.AreEqual(rows.Select(r => r.Shape == "triangle" ? MultiTaskDataset.MissingLabel : Array.IndexOf(Shapes, r.Shape)).ToArray(), streamed.Labels[0]);
        CollectionAssert.AreEqual(cached.Labels[0], streamed.Labels[0]);
        CollectionAssert.AreEqual(cached.Labels[1], streamed.Labels[1]);

        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        ControllableMultiTaskTransformer t = ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(keyed);
        Assert.IsTrue(log.Any(m => m.Contains("Streaming 40 training images")), string.Join("\n", log));
        Assert.AreEqual(2, ((ControllableMultiTaskModel)t.Model).Calibration.TaskCount);
    }

    [TestMethod]
    public void AClassificationTaskWithoutAnyLabelledRow_WhileStreaming_FailsBeforeTraining()
    {
        (MLContext ml, Row[] rows, ControllableMultiTaskEstimator.Options o) = Images8(40);
        IDataView raw = Raw(ml, rows, 64);
        IDataView keyed = ml.Transforms.Conversion.MapValueToKey("Shape")
            .Append(ml.Transforms.Conversion.MapValueToKey("Size", keyData: ml.Data.LoadFromEnumerable(new[] { new { Size = "huge" }, new { Size = "tiny" } })))
            .Fit(raw).Transform(raw);
        o.InMemoryCacheLimitMB = 0;
        var progress = new List<TrainingProgress>();
        o.Progress = new ActionProgress(p => { lock (progress) progress.Add(p); });
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(keyed));
        // The cached path's message (docs/errors.md E06).
        StringAssert.Contains(e.Message, "Task 'Size' has no labelled row: all 40 rows have a missing label (key value 0) in column 'Size'");
        Assert.AreEqual(0, progress.Count, "no training step ran");
    }

    /// <summary>Dense scenes (<see cref="DenseTestData"/>) with the classification task 'front' as a string mapped to a
    /// key whose dictionary is {back, front}: rows whose Front is "unknown" get the missing key 0.</summary>
    public sealed class DenseRow
    {
        [VectorType(DenseTestData.Pixels)] public float[] Features { get; set; } = [];
        [VectorType(DenseTestData.Pixels)] public float[] Seg { get; set; } = [];
        [VectorType(DenseTestData.Pixels)] public float[] Depth { get; set; } = [];
        [VectorType(DenseTestData.Pixels)] public float[] Edges { get; set; } = [];
        public string Front { get; set; } = "";
    }

    private static (DenseTestData.Row[] Source, IDataView View) DenseWithMissing(MLContext ml, int n, Func<int, bool> missing)
    {
        DenseTestData.Row[] source = DenseTestData.Rows(n);
        DenseRow[] rows = source.Select((r, i) => new DenseRow
        {
            Features = r.Features, Seg = r.Seg, Depth = r.Depth, Edges = r.Edges,
            Front = missing(i) ? "unknown" : r.Front == 0 ? "back" : "front",
        }).ToArray();
        IDataView raw = ml.Data.LoadFromEnumerable(rows);
        IDataView view = ml.Transforms.Conversion.MapValueToKey("Front", keyData: ml.Data.LoadFromEnumerable(new[] { new { Front = "back" }, new { Front = "front" } }))
            .Fit(raw).Transform(raw);
        return (source, view);
    }

    [TestMethod]
    public void StreamedRows_OfPerPixelTasksAndMissingKeyLabels_AreTheCachedPathsRows()
    {
        var ml = new MLContext(1);
        (DenseTestData.Row[] source, IDataView view) = DenseWithMissing(ml, 20, i => i % 5 == 2);
        ControllableMultiTaskEstimator.Options o = DenseTestData.Options();
        TaskDefinition[] tasks = DataViewConversion.ResolveTasks(view.Schema, o);
        CollectionAssert.AreEqual(new[] { TaskKind.Segmentation, TaskKind.Depth, TaskKind.Edges, TaskKind.Classification }, tasks.Select(t => t.Kind).ToArray());
        MultiTaskDataset cached = DataViewConversion.Read(view, o, tasks, default, out _);
        MultiTaskDataset streamed = InMemoryBatches.Collect(new DataViewBatches(view, o, tasks, source.Length, 1), default);
        CollectionAssert.AreEqual(cached.Images, streamed.Images);
        for (int t = 0; t < 3; t++)
        {
            CollectionAssert.AreEqual(cached.PixelLabels[t], streamed.PixelLabels[t], tasks[t].Name);
            CollectionAssert.AreEqual(source.SelectMany(r => t == 0 ? r.Seg : t == 1 ? r.Depth : r.Edges).ToArray(), streamed.PixelLabels[t], tasks[t].Name);
        }
        int[] expected = source.Select((r, i) => i % 5 == 2 ? MultiTaskDataset.MissingLabel : (int)r.Front).ToArray();
        CollectionAssert.AreEqual(expected, cached.Labels[3]);
        CollectionAssert.AreEqual(expected, streamed.Labels[3]);
    }

    [TestMethod]
    public void StreamedFit_PerPixelTasks_WithMissingKeyLabels_TrainsAndCalibrates()
    {
        var ml = new MLContext(1);
        var log = new List<string>();
        ml.Log += (_, e) => { lock (log) log.Add(e.Message); };
        (_, IDataView view) = DenseWithMissing(ml, 32, i => i % 5 == 2);
        ControllableMultiTaskEstimator.Options o = DenseTestData.Options();
        o.InMemoryCacheLimitMB = 0;
        o.ValidationFraction = 0.25;
        ControllableMultiTaskTransformer t = ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(view);
        Assert.IsTrue(log.Any(m => m.Contains("Streaming 24 training images") && m.Contains("8 images for calibration (streamed)")), string.Join("\n", log));
        Assert.AreEqual(4, ((ControllableMultiTaskModel)t.Model).Calibration.TaskCount);
        // Scores for every task, per-pixel maps included.
        IDataView scored = t.Transform(view);
        Assert.AreEqual(32, scored.GetColumn<float[]>("Score.seg").Count(s => s.Length == 3 * DenseTestData.Pixels));
    }

    [TestMethod]
    public void StreamedFit_PerPixelTasks_ClassificationTaskWithoutAnyLabelledRow_FailsBeforeTraining()
    {
        var ml = new MLContext(1);
        (_, IDataView view) = DenseWithMissing(ml, 16, _ => true);
        ControllableMultiTaskEstimator.Options o = DenseTestData.Options();
        o.InMemoryCacheLimitMB = 0;
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(view));
        // Per-pixel tasks have no class labels and are not checked; 'front' is.
        StringAssert.Contains(e.Message, "Task 'front' has no labelled row: all 16 rows have a missing label (key value 0) in column 'Front'");
    }

    [TestMethod]
    public void AStreamedPass_RecyclesItsBatchBuffers_AndAllocatesNothingPerRow()
    {
        // Batch buffers: a few per source (the prefetched batches, the one being filled, the one in use), however many
        // rows and passes.
        int Buffers(int rows)
        {
            var source = new DataViewBatches(new LazyImageDataView(rows, 1, 2, 3), LazyOptions(1, 2, 3), LazyTasks(), rows, shuffleBufferRows: 16);
            int seen = 0;
            foreach (Random? shuffle in new[] { new Random(1), null, new Random(2) })
                foreach (HostBatch b in source.Batches(8, shuffle, dropLast: false)) seen += b.Count;
            Assert.AreEqual(3 * rows, seen);
            return source.BatchBuffersCreated;
        }
        int small = Buffers(40), large = Buffers(4000);
        Assert.IsTrue(small is >= 1 and <= DataViewBatches.PrefetchBatches + 2, $"{small} batch buffers for 3 passes over 40 rows");
        Assert.IsTrue(large is >= 1 and <= DataViewBatches.PrefetchBatches + 2, $"{large} batch buffers for 3 passes over 4,000 rows");

        // Bytes: a shuffled pass after the first (which allocates the shuffle buffer and the batch buffers) allocates a
        // constant amount, whatever the row count (every thread counted: the reader runs on its own).
        long Allocated(int rows)
        {
            var source = new DataViewBatches(new LazyImageDataView(rows, 3, 32, 32), LazyOptions(3, 32, 32), LazyTasks(), rows, shuffleBufferRows: 64);
            foreach (HostBatch _ in source.Batches(16, new Random(1), dropLast: false)) { }
            long before = GC.GetTotalAllocatedBytes(precise: true);
            foreach (HostBatch _ in source.Batches(16, new Random(2), dropLast: false)) { }
            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }
        Allocated(300); // warm-up (JIT)
        long few = Allocated(300), many = Allocated(3000);
        long extraRows = 2700L * 3 * 32 * 32 * sizeof(float); // 33 MB: what one array per batch would add
        Assert.IsTrue(many - few < extraRows / 20, $"a pass over 3,000 rows allocated {many:N0} bytes, over 300 rows {few:N0} (the extra rows hold {extraRows:N0})");
    }

    [TestMethod]
    public void InMemoryPasses_RecycleTheirBatchBuffers()
    {
        MultiTaskDataset data = InMemoryBatches.Collect(new DataViewBatches(new LazyImageDataView(500, 1, 4, 4), LazyOptions(1, 4, 4), LazyTasks(), 500, 1), default);
        var source = new InMemoryBatches(data);
        foreach (HostBatch _ in source.Batches(16, new Random(1), dropLast: false)) { }
        long before = GC.GetTotalAllocatedBytes(precise: true);
        int seen = 0;
        foreach (HostBatch b in source.Batches(16, new Random(2), dropLast: false)) seen += b.Count;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.AreEqual(500, seen);
        Assert.IsTrue(allocated < 500L * 16 * sizeof(float) / 2, $"a pass over 500 rows allocated {allocated:N0} bytes (the images hold {500 * 16 * sizeof(float):N0})");
    }

    [TestMethod]
    public void StreamedFit_PeakLiveManagedMemory_DoesNotGrowWithTheRowCount()
    {
        // 300 vs 3,000 rows of 3x32x32 images (12 KB each; 3,000 rows materialised = 35 MB). Streaming holds the
        // shuffle buffer (64 rows) and a few batches, so the peak live managed heap must stay within a fixed margin
        // (a structural property, not a timing: the figures are live bytes after a full collection).
        long Peak(int rows)
        {
            var ml = new MLContext(1);
            ControllableMultiTaskEstimator.Options o = LazyOptions(3, 32, 32);
            o.ShuffleBufferRows = 64;
            o.ValidationData = new LazyImageDataView(32, 3, 32, 32);
            o.Widths = new[] { 0.5, 1.0 };
            o.BatchSize = 16;
            o.SandwichRandomCount = 0;
            o.SandwichFinalEpochExtraCount = 0;
            o.PostStatisticsImages = 32;
            o.ProgressEverySteps = 4;
            long peak = 0;
            // Sampled on the training thread between steps (a forced collection while TorchSharp is inside a native call
            // can finalise a temporary Scalar it still uses).
            o.Progress = new ActionProgress(_ => peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true)));
            ml.MulticlassClassification.Trainers.ControllableMultiTask(o).Fit(new LazyImageDataView(rows, 3, 32, 32));
            return peak;
        }
        Peak(64); // warm-up (JIT, TorchSharp)
        long small = Peak(300), large = Peak(3000);
        Assert.IsTrue(large < small + (12L << 20),
            $"peak live managed heap {large >> 20} MB at 3,000 rows vs {small >> 20} MB at 300 rows (materialising the extra rows would add 33 MB)");
    }

    internal sealed class ActionProgress(Action<TrainingProgress> action) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => action(value);
    }
}
