using Microsoft.ML;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Model;

namespace MLNetSlim.Tests.Integrity;

/// <summary>
/// Issue 14, item 1: a seeded sweep of bit flips and truncations over every region of a saved model (each entry of the
/// ML.NET zip, its central directory and end record; every section of the model stream). Each case must load a model
/// that behaves bit-identically or throw <see cref="InvalidModelFileException"/>: 0 silent changes.
/// </summary>
[TestClass]
public class DamagedFileTests
{
    private const int FlipsPerRegion = 10, TruncationsPerRegion = 3;

    private static string TempFolder()
    {
        string d = Path.Combine(TestData.TempRoot, $"mlnetslim-damage-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

    [TestMethod]
    public void ModelZip_EveryEntry_FlipsAndTruncations_LoadIdenticalOrThrowInvalidModelFile()
    {
        using ControllableMultiTaskModel model = TinyModel.Train();
        var ml = new MLContext(1).AddMLNetSlim();
        (ITransformer chain, IDataView data) = TinyModel.Chain(ml, model);
        string folder = TempFolder();
        try
        {
            string good = Path.Combine(folder, "model.zip");
            ml.Model.SaveAtomic(chain, data.Schema, good);
            string expected = TinyModel.Fingerprint(ml.Model.LoadChecked(good, out _), data);
            Assert.AreEqual(expected, TinyModel.Fingerprint(chain, data), "an undamaged file loads identically");
            byte[] bytes = File.ReadAllBytes(good);
            List<ZipLayout.Region> regions = ZipLayout.Regions(bytes);
            Assert.IsTrue(regions.Any(r => r.Name.EndsWith("MultiTaskModel.bin", StringComparison.Ordinal)), string.Join(", ", regions.Select(r => r.Name)));

            var rng = new Random(14);
            int cases = 0, identical = 0, rejected = 0, plainRejected = 0;
            var silent = new List<string>();
            string damaged = Path.Combine(folder, "damaged.zip");
            foreach (ZipLayout.Region region in regions)
            {
                var variants = new List<(string What, byte[] Bytes)>();
                for (int i = 0; i < FlipsPerRegion; i++)
                {
                    int pos = rng.Next(region.Start, region.End);
                    int bit = rng.Next(8);
                    byte[] b = (byte[])bytes.Clone();
                    b[pos] ^= (byte)(1 << bit);
                    variants.Add(($"flip of bit {bit} at byte {pos} ({region.Name})", b));
                }
                for (int i = 0; i < TruncationsPerRegion; i++)
                {
                    int cut = rng.Next(region.Start, region.End);
                    variants.Add(($"truncation at byte {cut} ({region.Name})", bytes[..cut]));
                }
                foreach ((string what, byte[] b) in variants)
                {
                    cases++;
                    File.WriteAllBytes(damaged, b);
                    var ml2 = new MLContext(1).AddMLNetSlim();
                    try
                    {
                        ITransformer loaded = ml2.Model.LoadChecked(damaged, out _);
                        if (TinyModel.Fingerprint(loaded, data) == expected) identical++;
                        else silent.Add("LoadChecked: " + what);
                    }
                    catch (InvalidModelFileException e)
                    {
                        rejected++;
                        StringAssert.Contains(e.Message, damaged, what);
                        Assert.IsFalse(e.Message.Contains("target of an invocation", StringComparison.Ordinal), what);
                    }
                    catch (Exception e)
                    {
                        Assert.Fail($"{what}: LoadChecked threw {e.GetType().Name}: {e.Message}");
                    }
                    // Plain mlContext.Model.Load may throw ML.NET's own errors for ML.NET's entries, but must never load
                    // a changed model either, and never surface a bare TargetInvocationException.
                    try
                    {
                        ITransformer loaded = ml2.Model.Load(damaged, out _);
                        if (TinyModel.Fingerprint(loaded, data) != expected) silent.Add("Model.Load: " + what);
                    }
                    catch (Exception e)
                    {
                        plainRejected++;
                        // ML.NET invokes a chain's loader by reflection, so errors from inside a chain arrive wrapped
                        // in TargetInvocationException; never a bare one.
                        Exception inner = e;
                        while (inner is System.Reflection.TargetInvocationException { InnerException: Exception i }) inner = i;
                        Assert.IsNotInstanceOfType<System.Reflection.TargetInvocationException>(inner, what);
                    }
                }
            }
            Console.WriteLine($"{cases} damaged zips: {identical} loaded identically, {rejected} rejected with InvalidModelFileException, " +
                              $"{silent.Count} silent changes; plain Model.Load rejected {plainRejected}.");
            Assert.AreEqual(0, silent.Count, string.Join("\n", silent));
            Assert.AreEqual(cases, identical + rejected);
            Assert.IsTrue(rejected > cases / 2, $"{rejected} of {cases} rejected");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void ModelStream_FlipsAndTruncations_LoadIdenticalOrThrowInvalidModelFile()
    {
        using ControllableMultiTaskModel model = TinyModel.Train();
        string folder = TempFolder();
        try
        {
            string good = Path.Combine(folder, "model.bin");
            model.Save(good);
            byte[] bytes = File.ReadAllBytes(good);
            float[] x = TinyModel.Rows(4).SelectMany(r => r.Features).ToArray();
            string Predict(ControllableMultiTaskModel m) =>
                string.Join(",", m.Predict(x, 4, m.Network.FullConfiguration).SelectMany(p => p).Select(BitConverter.SingleToInt32Bits));
            string expected = Predict(model);
            var rng = new Random(14);
            int rejected = 0, identical = 0;
            string damaged = Path.Combine(folder, "damaged.bin");
            // Sections: magic + version (12 bytes), payload length (8), payload, SHA-256 (32).
            int[] bounds = { 0, 12, 20, bytes.Length - 32, bytes.Length };
            for (int s = 0; s + 1 < bounds.Length; s++)
                for (int i = 0; i < 40; i++)
                {
                    byte[] b;
                    string what;
                    if (i % 4 == 3)
                    {
                        int cut = rng.Next(bounds[s], bounds[s + 1]);
                        b = bytes[..cut];
                        what = $"truncation at {cut}";
                    }
                    else
                    {
                        int pos = rng.Next(bounds[s], bounds[s + 1]);
                        b = (byte[])bytes.Clone();
                        b[pos] ^= (byte)(1 << rng.Next(8));
                        what = $"flip at {pos}";
                    }
                    File.WriteAllBytes(damaged, b);
                    try
                    {
                        using ControllableMultiTaskModel loaded = ControllableMultiTaskModel.Load(damaged);
                        Assert.AreEqual(expected, Predict(loaded), what);
                        identical++;
                    }
                    catch (InvalidModelFileException e)
                    {
                        rejected++;
                        StringAssert.Contains(e.Message, damaged, what);
                    }
                }
            Console.WriteLine($"model stream: {rejected} rejected, {identical} identical");
            Assert.AreEqual(160, rejected + identical);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

/// <summary>Files written by earlier releases (model stream version 1, transformer formats 1.1 and 1.2) still load.</summary>
[TestClass]
public class OlderFormatTests
{
    [TestMethod]
    public void ModelStreamVersion1_Loads_BitIdentical()
    {
        using ControllableMultiTaskModel model = TinyModel.Train();
        using var ms = new MemoryStream();
        model.SaveFormat1(ms);
        ms.Position = 0;
        using ControllableMultiTaskModel loaded = ControllableMultiTaskModel.Load(ms);
        float[] x = TinyModel.Rows(3).SelectMany(r => r.Features).ToArray();
        CollectionAssert.AreEqual(
            model.Predict(x, 3, model.Network.FullConfiguration).SelectMany(p => p).ToArray(),
            loaded.Predict(x, 3, loaded.Network.FullConfiguration).SelectMany(p => p).ToArray());
    }

    [TestMethod]
    [DataRow(0x00010001u)]
    [DataRow(0x00010002u)]
    public void TransformerFormat_1_1_And_1_2_Load_BitIdentical(uint version)
    {
        using ControllableMultiTaskModel model = TinyModel.Train();
        var ml = new MLContext(1).AddMLNetSlim();
        (ITransformer chain, IDataView data) = TinyModel.Chain(ml, model);
        ((IEnumerable<ITransformer>)chain).OfType<ControllableMultiTaskTransformer>().Single().SaveFormatVersion = version;
        string path = Path.Combine(TestData.TempRoot, $"mlnetslim-old-{Guid.NewGuid():N}.zip");
        try
        {
            ml.Model.SaveAtomic(chain, data.Schema, path);
            Assert.AreEqual(TinyModel.Fingerprint(chain, data), TinyModel.Fingerprint(new MLContext(2).AddMLNetSlim().Model.LoadChecked(path, out _), data));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
