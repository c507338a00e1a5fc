using MLNetSlim.Data;
using MLNetSlim.Model;
using MLNetSlim.Network;
using MLNetSlim.Training;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Integrity;

/// <summary>Issue 14, item 5: a run interrupted after a checkpoint and resumed ends with the same weights, bit for bit,
/// as an uninterrupted run with the same seed.</summary>
[TestClass]
public class ResumeTests
{
    private sealed class CancelAt(CancellationTokenSource cts, int step) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (!value.IsEpochEnd && value.Step >= step) cts.Cancel();
        }
    }

    private static byte[] Weights(MultiTaskNetwork net)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) net.save(w);
        return ms.ToArray();
    }

    private static TrainingOptions Options(string? checkpoint, bool resume) => new()
    {
        Epochs = 2,
        BatchSize = 8,
        Seed = 5,
        ProgressEverySteps = 1,
        PostStatisticsImages = 16,
        CheckpointPath = checkpoint,
        CheckpointEverySteps = checkpoint is null ? 0 : 4,
        ResumeFromCheckpoint = resume,
    };

    [TestMethod]
    public void InterruptedAndResumed_EndsWithTheSameWeights_AsAnUninterruptedRun()
    {
        MultiTaskDataset data = TinyModel.Data(48); // 6 steps per epoch, 12 in all
        NetworkOptions shape = TinyModel.Options().NetworkFor(data.Tasks, TinyModel.C, TinyModel.H, TinyModel.W);
        string folder = Path.Combine(TestData.TempRoot, $"mlnetslim-resume-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        string checkpoint = Path.Combine(folder, "train.ckpt");
        try
        {
            byte[] uninterrupted;
            using (MultiTaskNetwork net = SupernetTrainer.CreateNetwork(shape, 1))
            {
                SupernetTrainer.Train(net, data, Options(null, false));
                uninterrupted = Weights(net);
            }

            // Interrupted after step 7 (checkpoint at step 4, in epoch 1), then after step 10 of the second attempt
            // (checkpoint at step 8, in epoch 2): two resumes, one across an epoch boundary.
            foreach (int stopAfter in new[] { 7, 10 })
            {
                using var cts = new CancellationTokenSource();
                // The first attempt starts like the uninterrupted run; the second gets other initial weights, which the
                // checkpoint must replace.
                using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(shape, stopAfter == 7 ? 1 : 99);
                Assert.ThrowsExactly<OperationCanceledException>(() =>
                    SupernetTrainer.Train(net, data, Options(checkpoint, true), new CancelAt(cts, stopAfter), cts.Token));
                Assert.IsTrue(File.Exists(checkpoint));
            }
            Assert.AreEqual(8, TrainingCheckpoint.Load(checkpoint).Step);
            using (MultiTaskNetwork resumed = SupernetTrainer.CreateNetwork(shape, 42))
            {
                SupernetTrainer.Train(resumed, data, Options(checkpoint, true));
                CollectionAssert.AreEqual(uninterrupted, Weights(resumed), "resumed run = uninterrupted run, bit for bit");
            }
            Assert.AreEqual(0, AtomicFile.Temporaries(checkpoint).Count());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void DamagedOrForeignCheckpoint_IsRefused()
    {
        MultiTaskDataset data = TinyModel.Data(48);
        NetworkOptions shape = TinyModel.Options().NetworkFor(data.Tasks, TinyModel.C, TinyModel.H, TinyModel.W);
        string folder = Path.Combine(TestData.TempRoot, $"mlnetslim-resume-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        string checkpoint = Path.Combine(folder, "train.ckpt");
        try
        {
            using (MultiTaskNetwork net = SupernetTrainer.CreateNetwork(shape, 1))
                SupernetTrainer.Train(net, data, Options(checkpoint, false));
            byte[] good = File.ReadAllBytes(checkpoint);
            byte[] bad = (byte[])good.Clone();
            bad[good.Length / 2] ^= 4;
            File.WriteAllBytes(checkpoint, bad);
            using (MultiTaskNetwork net = SupernetTrainer.CreateNetwork(shape, 1))
            {
                var e = Assert.ThrowsExactly<InvalidModelFileException>(() => SupernetTrainer.Train(net, data, Options(checkpoint, true)));
                StringAssert.Contains(e.Message, "checksum mismatch");
                StringAssert.Contains(e.Message, checkpoint);
            }
            File.WriteAllBytes(checkpoint, good);
            TrainingOptions other = Options(checkpoint, true);
            other.LearningRate *= 2;
            using (MultiTaskNetwork net = SupernetTrainer.CreateNetwork(shape, 1))
                StringAssert.Contains(Assert.ThrowsExactly<InvalidOperationException>(() => SupernetTrainer.Train(net, data, other)).Message,
                    "was written by a run with other settings or data");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
