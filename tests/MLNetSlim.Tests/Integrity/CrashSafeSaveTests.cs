using System.Diagnostics;
using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Network;
using MLNetSlim.Testing;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Integrity;

/// <summary>
/// Issue 14, item 2: <c>mlContext.Model.SaveAtomic</c> never leaves a broken model at the target. A child process
/// (tests/MLNetSlim.LoadHost "save-loop") saves two models alternately over one path and is killed with SIGKILL at 20
/// moments spread over one save; every time the target is the complete old or the complete new model, and the next
/// save removes the temporary files the killed saves left.
/// </summary>
[TestClass]
public class CrashSafeSaveTests
{
    public TestContext TestContext { get; set; } = null!;

    private const int C = 3, H = 48, W = 48; // as SaveLoopHost

    private static LinearMultiTaskModel Model(int seed) => new(C, H, W, new[]
    {
        new TaskDefinition("Shape", TaskKind.Classification, 3, new[] { "circle", "square", "triangle" }),
        new TaskDefinition("Size", TaskKind.Classification, 2, new[] { "small", "large" }),
    }, WidthSet.Default, seed);

    private sealed class Row
    {
        public float[] Features { get; set; } = Array.Empty<float>();
    }

    private static IDataView Rows(MLContext ml)
    {
        var rng = new Random(3);
        SchemaDefinition def = SchemaDefinition.Create(typeof(Row));
        def["Features"].ColumnType = new VectorDataViewType(NumberDataViewType.Single, C * H * W);
        return ml.Data.LoadFromEnumerable(Enumerable.Range(0, 4).Select(_ => new Row { Features = Enumerable.Range(0, C * H * W).Select(_ => (float)rng.NextDouble()).ToArray() }).ToArray(), def);
    }

    private static string Fingerprint(ITransformer model, IDataView rows)
    {
        IDataView scored = model.Transform(rows);
        DataViewSchema.Column s = scored.Schema["Score.Shape"];
        using DataViewRowCursor cur = scored.GetRowCursor(new[] { s });
        ValueGetter<VBuffer<float>> g = cur.GetGetter<VBuffer<float>>(s);
        VBuffer<float> v = default;
        var bits = new List<int>();
        while (cur.MoveNext())
        {
            g(ref v);
            bits.AddRange(v.DenseValues().Select(BitConverter.SingleToInt32Bits));
        }
        return string.Join(",", bits);
    }

    [TestMethod]
    public void SaveAtomic_KilledAt20Moments_LeavesOldOrNewModel_AndNextSaveRemovesTemporaries()
    {
        MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
        var ml = new MLContext(1).AddMLNetSlim();
        IDataView rows = Rows(ml);
        var a = new ControllableMultiTaskTransformer(Model(1));
        var b = new ControllableMultiTaskTransformer(Model(2));
        string fa = Fingerprint(a, rows), fb = Fingerprint(b, rows);
        Assert.AreNotEqual(fa, fb);

        string folder = Path.Combine(TestData.TempRoot, $"mlnetslim-kill-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        string target = Path.Combine(folder, "model.zip");
        string host = typeof(LoadHostRunner).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(x => x.Key == "MLNetSlim.LoadHostPath").Value!;
        try
        {
            ml.Model.SaveAtomic(a, rows.Schema, target);
            int midSave = 0;
            var seen = new List<string>();
            for (int k = 0; k < 20; k++)
            {
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                psi.ArgumentList.Add(host);
                psi.ArgumentList.Add("save-loop");
                psi.ArgumentList.Add(target);
                using Process p = Process.Start(psi)!;
                var saved = new List<(long Index, long Ticks)>();
                var twoSaves = new ManualResetEventSlim();
                p.OutputDataReceived += (_, e) =>
                {
                    if (e.Data is string line && line.StartsWith("saved ", StringComparison.Ordinal))
                        lock (saved)
                        {
                            saved.Add((long.Parse(line[6..], System.Globalization.CultureInfo.InvariantCulture), Stopwatch.GetTimestamp()));
                            if (saved.Count >= 2) twoSaves.Set();
                        }
                };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                Assert.IsTrue(twoSaves.Wait(TimeSpan.FromSeconds(120), TestContext.CancellationToken), "the host saved twice");
                double period;
                lock (saved) period = Stopwatch.GetElapsedTime(saved[0].Ticks, saved[1].Ticks).TotalMilliseconds;
                // Moment k of 20 within the next save.
                Thread.Sleep(TimeSpan.FromMilliseconds(period * k / 20.0));
                p.Kill(); // SIGKILL on Linux and macOS
                p.WaitForExit();

                ITransformer loaded = new MLContext(1).AddMLNetSlim().Model.LoadChecked(target, out _);
                string f = Fingerprint(loaded, rows);
                Assert.IsTrue(f == fa || f == fb, $"kill {k}: the target is neither the old nor the new model");
                seen.Add(f == fa ? "A" : "B");
                if (AtomicFile.Temporaries(Path.GetFullPath(target)).Any()) midSave++;
            }
            // The next save removes what the killed saves left behind.
            ml.Model.SaveAtomic(b, rows.Schema, target);
            Assert.AreEqual(0, AtomicFile.Temporaries(Path.GetFullPath(target)).Count(), "temporary files after the next save");
            CollectionAssert.AreEquivalent(new[] { "model.zip" }, Directory.GetFiles(folder).Select(Path.GetFileName).ToArray());
            Console.WriteLine($"20 kills: {midSave} landed mid-save (a temporary file was left), target models {string.Concat(seen)}");
            Assert.IsTrue(midSave >= 1, "at least one kill landed inside a save");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void SaveAtomic_FailingWrite_KeepsTheOldModel_AndLeavesNoTemporary()
    {
        string folder = Path.Combine(TestData.TempRoot, $"mlnetslim-fail-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        string target = Path.Combine(folder, "model.bin");
        try
        {
            File.WriteAllText(target, "old");
            Assert.ThrowsExactly<InvalidOperationException>(() => AtomicFile.Write(target, s =>
            {
                s.WriteByte(1);
                throw new InvalidOperationException("writer failed");
            }));
            Assert.AreEqual("old", File.ReadAllText(target));
            CollectionAssert.AreEquivalent(new[] { "model.bin" }, Directory.GetFiles(folder).Select(Path.GetFileName).ToArray());
            // A stale temporary of a killed save (and nothing else) is removed by the next save.
            string stale = target + ".tmp-" + Guid.NewGuid().ToString("N");
            string unrelated = target + ".tmp-notours";
            File.WriteAllText(stale, "half");
            File.WriteAllText(unrelated, "keep");
            AtomicFile.Write(target, s => s.WriteByte(2));
            Assert.IsFalse(File.Exists(stale));
            Assert.IsTrue(File.Exists(unrelated));
            CollectionAssert.AreEqual(new byte[] { 2 }, File.ReadAllBytes(target));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
