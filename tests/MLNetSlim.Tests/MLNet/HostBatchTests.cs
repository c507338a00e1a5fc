using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Training;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.MLNet;

/// <summary>Host batches carry per-image class labels and per-pixel label maps, streamed or cached (issue 10 with the
/// per-pixel tasks of issue 11).</summary>
[TestClass]
public class HostBatchTests
{
    private const int H = 4, W = 4;

    public sealed class PixelRow
    {
        [VectorType(1, H, W)] public float[] Features { get; set; } = [];

        [VectorType(H * W)] public float[] Seg { get; set; } = [];

        [KeyType(3)] public uint Side { get; set; } // 0-based: LoadFromEnumerable stores key = value + 1
    }

    internal static readonly TaskDefinition[] Tasks =
    [
        new("seg", TaskKind.Segmentation, 3) { IgnoreValue = 255 },
        new("side", TaskKind.Classification, 3),
    ];

    internal static ControllableMultiTaskEstimator.Options PixelOptions() => new()
    {
        Tasks = { new() { Name = "seg", LabelColumnName = "Seg" }, new() { Name = "side", LabelColumnName = "Side" } },
        ImageChannels = 1,
        ImageHeight = H,
        ImageWidth = W,
    };

    /// <summary>Row i: every pixel = i; seg map = (i + p) % 3 except pixel 0 = 255 (ignored); side class = i % 3.</summary>
    internal static PixelRow[] PixelRows(int n) => Enumerable.Range(0, n).Select(i => new PixelRow
    {
        Features = Enumerable.Repeat((float)i, H * W).ToArray(),
        Seg = Enumerable.Range(0, H * W).Select(p => p == 0 ? 255f : (i + p) % 3).ToArray(),
        Side = (uint)(i % 3),
    }).ToArray();

    [TestMethod]
    public void StreamedBatches_CarryLabelMapsAndClasses_RowAligned_InOrderAndShuffled()
    {
        var ml = new MLContext(1);
        PixelRow[] rows = PixelRows(37);
        IDataView view = ml.Data.LoadFromEnumerable(rows);
        var source = new DataViewBatches(view, PixelOptions(), Tasks, rows.Length, shuffleBufferRows: 8);
        foreach (Random? shuffle in new[] { null, new Random(3) })
        {
            var seen = new List<int>();
            foreach (HostBatch b in source.Batches(5, shuffle, dropLast: false))
            {
                Assert.IsNull(b.PixelLabels[1]);
                Assert.IsNull(b.ClassLabels[0]);
                for (int i = 0; i < b.Count; i++)
                {
                    int id = (int)b.Images[i * H * W];
                    seen.Add(id);
                    CollectionAssert.AreEqual(rows[id].Seg, b.PixelLabels[0]!.AsSpan(i * H * W, H * W).ToArray(), $"row {id}");
                    Assert.AreEqual((int)rows[id].Side, b.ClassLabels[1]![i], $"row {id}");
                }
                // The tensors the trainer sees: segmentation (N, H, W) int64 with the ignore value kept, classes (N) int64.
                using Tensor seg = b.LabelTensor(Tasks[0], 0, H, W, CPU);
                CollectionAssert.AreEqual(new long[] { b.Count, H, W }, seg.shape);
                Assert.AreEqual(255L, seg[0, 0, 0].item<long>());
                using Tensor side = b.LabelTensor(Tasks[1], 1, H, W, CPU);
                CollectionAssert.AreEqual(new long[] { b.Count }, side.shape);
            }
            if (shuffle is null) CollectionAssert.AreEqual(Enumerable.Range(0, rows.Length).ToArray(), seen.ToArray());
            else
            {
                CollectionAssert.AreEquivalent(Enumerable.Range(0, rows.Length).ToArray(), seen.ToArray());
                CollectionAssert.AreNotEqual(Enumerable.Range(0, rows.Length).ToArray(), seen.ToArray());
            }
        }

        // Collected into memory: the same data set as built by hand.
        MultiTaskDataset collected = InMemoryBatches.Collect(source, default);
        CollectionAssert.AreEqual(rows.SelectMany(r => r.Seg).ToArray(), collected.PixelLabels[0]);
        CollectionAssert.AreEqual(rows.Select(r => (int)r.Side).ToArray(), collected.Labels[1]);
        CollectionAssert.AreEqual(rows.SelectMany(r => r.Features).ToArray(), collected.Images);
    }

    [TestMethod]
    public void ASegmentationValueOutsideTheClasses_NamesTheRowTheColumnAndTheValue()
    {
        var ml = new MLContext(1);
        PixelRow[] rows = PixelRows(12);
        rows[7].Seg[5] = 4;
        var source = new DataViewBatches(ml.Data.LoadFromEnumerable(rows), PixelOptions(), Tasks, rows.Length, 1);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => source.Batches(4, null, false).ToList());
        // The row reader of both paths keeps the cached path's message (docs/errors.md E37).
        StringAssert.Contains(e.Message, "Row 7 (0-based): label-map column 'Seg' of task 'seg' (Segmentation) holds 4 at position 5");
        Assert.AreEqual(1, source.Batches(4, null, false).TakeWhile(_ => true).Take(1).Count(), "the batches before the bad row are delivered");
    }

    [TestMethod]
    public void APerPixelLabelColumnOfTheWrongSize_IsASchemaErrorNamingItAndTheExpectedType()
    {
        var ml = new MLContext(1);
        IDataView view = ml.Data.LoadFromEnumerable(PixelRows(3));
        TaskDefinition[] normals = [TaskDefinition.PerPixel("seg", TaskKind.Normals), Tasks[1]];
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => new DataViewBatches(view, PixelOptions(), normals, 3, 1));
        // SchemaChecks.LabelMapColumn, as in the cached path (docs/errors.md E36).
        StringAssert.Contains(e.Message, "Size mismatch for label-map column 'Seg' of task 'seg' (Normals): it holds 16 values per row");
        StringAssert.Contains(e.Message, "so it needs 48 = 3 x 4 x 4 (L x H x W)");
    }

    [TestMethod]
    public void AMissingClassLabel_MinusOne_IsCarriedThroughUnchanged()
    {
        // The contract with the missing-label work (issue 15): class index -1 = missing, ignored by losses and metrics.
        var batch = new HostBatch(new float[2 * H * W], [null, new[] { -1, 2 }], [new float[2 * H * W], null], 2);
        using Tensor y = batch.LabelTensor(Tasks[1], 1, H, W, CPU);
        CollectionAssert.AreEqual(new long[] { -1, 2 }, y.data<long>().ToArray());
        HostBatch target = HostBatch.Allocate(Tasks, 2, 1, H, W);
        batch.CopyRow(0, target, 1, H * W);
        Assert.AreEqual(-1, target.ClassLabels[1]![1]);
    }

    [TestMethod]
    public void InMemoryBatches_GiveTheSameTensorsAsTensorBatches_ForEveryTaskKind()
    {
        MultiTaskDataset data = Tests.Training.DenseTrainingTests.Squares(10, 3);
        int[] picked = [7, 2, 9];
        HostBatch b = InMemoryBatches.Gather(data, picked);
        for (int t = 0; t < data.Tasks.Count; t++)
        {
            using Tensor a = b.LabelTensor(data.Tasks[t], t, data.Height, data.Width, CPU);
            using Tensor r = TensorBatches.Labels(data, t, picked, CPU);
            CollectionAssert.AreEqual(r.shape, a.shape, data.Tasks[t].Name);
            Assert.IsTrue(a.eq(r).all().item<bool>(), data.Tasks[t].Name);
        }
    }

    [TestMethod]
    public void PerEpochValidation_DoesNotChangeTheTrainedWeights()
    {
        // The per-epoch measurement runs in eval mode without gradients and draws no random numbers.
        MultiTaskDataset train = Tests.Integrity.TinyModel.Data(48), validation = Tests.Integrity.TinyModel.Data(16, seed: 2);
        ModelOptions o = Tests.Integrity.TinyModel.Options();
        o.Training.Epochs = 2;
        int[] Bits(bool withValidation)
        {
            var reports = new List<TrainingProgress>();
            MLNetSlim.Network.MultiTaskNetwork net = SupernetTrainer.CreateNetwork(o.NetworkFor(train.Tasks, train.Channels, train.Height, train.Width), o.Training.Seed);
            SupernetTrainer.Train(net, new InMemoryBatches(train), o.Training, new StreamingTests.ActionProgress(reports.Add), default,
                withValidation ? new InMemoryBatches(validation) : null);
            Assert.AreEqual(withValidation ? 2 : 0, reports.Count(r => r.ValidationMetrics is not null));
            return net.state_dict().Values.SelectMany(p => p.to_type(ScalarType.Float32).data<float>().ToArray()).Select(BitConverter.SingleToInt32Bits).ToArray();
        }
        CollectionAssert.AreEqual(Bits(false), Bits(true));
    }

    [TestMethod]
    public void BatchTensors_AreBitForBitWhatTheArraysGaveBefore_FromPooledBuffersLongerThanTheBatch()
    {
        // ImageTensor / LabelTensor copy straight into libtorch memory (no managed clone); the values must be exactly
        // those of torch.tensor(array) as before, also from a pooled buffer whose arrays hold more rows than the batch.
        TaskDefinition[] tasks =
        [
            new("seg", TaskKind.Segmentation, 3) { IgnoreValue = 255 },
            TaskDefinition.PerPixel("depth", TaskKind.Depth),
            TaskDefinition.PerPixel("normals", TaskKind.Normals),
            new("side", TaskKind.Classification, 3),
        ];
        var rng = new Random(5);
        var pool = new HostBatchPool(tasks, capacity: 6, 2, H, W, retained: 1);
        HostBatch buffer = pool.Rent();
        for (int i = 0; i < buffer.Images.Length; i++) buffer.Images[i] = (float)(rng.NextDouble() * 2 - 1) / 3f;
        for (int i = 0; i < buffer.PixelLabels[0]!.Length; i++) buffer.PixelLabels[0]![i] = i % 7 == 0 ? 255 : rng.Next(3);
        for (int i = 0; i < buffer.PixelLabels[1]!.Length; i++) buffer.PixelLabels[1]![i] = i % 5 == 0 ? float.NaN : (float)rng.NextDouble() * 10;
        for (int i = 0; i < buffer.PixelLabels[2]!.Length; i++) buffer.PixelLabels[2]![i] = (float)rng.NextDouble() - 0.5f;
        for (int i = 0; i < 6; i++) buffer.ClassLabels[3]![i] = i % 4 - 1;
        HostBatch batch = buffer.WithCount(4);
        Assert.AreSame(buffer, batch.Buffer);

        int n = 4, size = 2 * H * W;
        using Tensor images = batch.ImageTensor(2, H, W, CPU);
        using Tensor before = tensor(buffer.Images.AsSpan(0, n * size).ToArray(), new long[] { n, 2, H, W });
        CollectionAssert.AreEqual(new long[] { n, 2, H, W }, images.shape);
        CollectionAssert.AreEqual(Bits(before.data<float>().ToArray()), Bits(images.data<float>().ToArray()));

        using Tensor seg = batch.LabelTensor(tasks[0], 0, H, W, CPU);
        long[] segBefore = buffer.PixelLabels[0]!.AsSpan(0, n * H * W).ToArray().Select(v => (long)v).ToArray();
        Assert.AreEqual(ScalarType.Int64, seg.dtype);
        CollectionAssert.AreEqual(segBefore, seg.data<long>().ToArray());

        using Tensor depth = batch.LabelTensor(tasks[1], 1, H, W, CPU);
        CollectionAssert.AreEqual(Bits(buffer.PixelLabels[1]!.AsSpan(0, n * H * W).ToArray()), Bits(depth.data<float>().ToArray()));
        using Tensor normals = batch.LabelTensor(tasks[2], 2, H, W, CPU);
        CollectionAssert.AreEqual(new long[] { n, 3, H, W }, normals.shape);
        CollectionAssert.AreEqual(Bits(buffer.PixelLabels[2]!.AsSpan(0, n * 3 * H * W).ToArray()), Bits(normals.data<float>().ToArray()));
        using Tensor side = batch.LabelTensor(tasks[3], 3, H, W, CPU);
        CollectionAssert.AreEqual(new long[] { -1, 0, 1, 2 }, side.data<long>().ToArray());

        // The tensors own their memory: reusing the buffer does not change them.
        pool.Return(batch);
        Assert.AreSame(buffer, pool.Rent());
        Array.Clear(buffer.Images);
        CollectionAssert.AreEqual(Bits(before.data<float>().ToArray()), Bits(images.data<float>().ToArray()));
        Assert.AreEqual(1, pool.Created);
    }

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
