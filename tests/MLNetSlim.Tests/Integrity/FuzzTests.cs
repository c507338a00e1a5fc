using System.Buffers.Binary;
using System.IO.Compression;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Testing;
using static MLNetSlim.Tests.MLNet.MLNetTestData;
using MLNetSlim.Datasets;

namespace MLNetSlim.Tests.Integrity;

/// <summary>
/// Issue 14, item 6: seeded truncations and bit flips of the IDX, labels TSV and model readers. The process never
/// crashes, and every failure is the documented exception of that reader (IDX: InvalidDataException naming the file;
/// model stream and model zip: InvalidModelFileException; labels TSV through Fit: the documented data errors of
/// docs/errors.md). A few thousand cases in a few seconds.
/// </summary>
[TestClass]
public class FuzzTests
{
    private static byte[] Damage(byte[] good, Random rng, out string what)
    {
        switch (rng.Next(4))
        {
            case 0:
                int cut = rng.Next(good.Length);
                what = $"truncated at {cut}";
                return good[..cut];
            case 1:
                int flips = 1 + rng.Next(3);
                byte[] b = (byte[])good.Clone();
                for (int i = 0; i < flips; i++) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                what = $"{flips} bit flips";
                return b;
            case 2:
                byte[] c = (byte[])good.Clone();
                int at = rng.Next(c.Length);
                c[at] ^= (byte)(1 + rng.Next(255)); // always a different value: replacing a byte by itself is no damage
                what = $"byte {at} replaced";
                return c;
            default:
                int extra = 1 + rng.Next(8);
                what = $"{extra} trailing bytes";
                return good.Concat(Enumerable.Range(0, extra).Select(_ => (byte)rng.Next(256))).ToArray();
        }
    }

    private static byte[] Idx(int magic, int[] dims, byte[] data)
    {
        var ms = new MemoryStream();
        Span<byte> w = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(w, magic);
        ms.Write(w);
        foreach (int d in dims)
        {
            BinaryPrimitives.WriteInt32BigEndian(w, d);
            ms.Write(w);
        }
        ms.Write(data);
        return ms.ToArray();
    }

    private static byte[] Gzip(byte[] raw)
    {
        var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true)) gz.Write(raw);
        return ms.ToArray();
    }

    [TestMethod]
    public void IdxReader_2000DamagedFiles_ReadOrThrowInvalidDataExceptionNamingTheFile()
    {
        string folder = Path.Combine(TestData.TempRoot, $"mlnetslim-fuzz-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            var rng = new Random(6);
            byte[] pixels = Enumerable.Range(0, 5 * 4 * 3).Select(i => (byte)i).ToArray();
            byte[] images = Idx(IdxReader.ImagesMagic, new[] { 5, 4, 3 }, pixels);
            byte[] labels = Idx(IdxReader.LabelsMagic, new[] { 5 }, new byte[] { 0, 1, 2, 1, 0 });
            byte[][] goods = { images, Gzip(images), labels, Gzip(labels) };
            string imagesPath = Path.Combine(folder, "images.idx"), labelsPath = Path.Combine(folder, "labels.idx");
            int failures = 0, read = 0;
            for (int i = 0; i < 2000; i++)
            {
                int which = i % 4;
                byte[] damaged = Damage(goods[which], rng, out string what);
                bool imageFile = which < 2;
                File.WriteAllBytes(imageFile ? imagesPath : labelsPath, damaged);
                File.WriteAllBytes(imageFile ? labelsPath : imagesPath, imageFile ? labels : images);
                try
                {
                    LabeledImages li = IdxReader.ReadLabeledImages(imagesPath, labelsPath, new[] { "a", "b", "c" });
                    Assert.AreEqual(5, li.Count, what);
                    read++;
                }
                catch (InvalidDataException e)
                {
                    failures++;
                    Assert.IsTrue(e.Message.Contains(imageFile ? imagesPath : labelsPath, StringComparison.Ordinal) || e.Message.Contains("Count mismatch", StringComparison.Ordinal), $"{what}: {e.Message}");
                }
                catch (Exception e)
                {
                    Assert.Fail($"case {i} ({what}): undocumented {e.GetType().Name}: {e.Message}");
                }
            }
            Console.WriteLine($"IDX: 2000 damaged files, {failures} InvalidDataException, {read} read");
            Assert.IsTrue(failures > 1000, $"{failures} failures"); // IDX has no checksum: a flip inside the pixels reads as other pixels
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void ModelStream_2000DamagedStreams_LoadIdenticalOrThrowInvalidModelFile()
    {
        using ControllableMultiTaskModel model = TinyModel.Train();
        using var ms = new MemoryStream();
        model.Save(ms);
        byte[] good = ms.ToArray();
        var rng = new Random(61);
        int failures = 0, loaded = 0;
        for (int i = 0; i < 2000; i++)
        {
            byte[] damaged = Damage(good, rng, out string what);
            try
            {
                ControllableMultiTaskModel.Load(new MemoryStream(damaged)).Dispose();
                loaded++; // only trailing bytes after a whole model can load
                Assert.IsTrue(damaged.Length > good.Length && damaged.AsSpan(0, good.Length).SequenceEqual(good), what);
            }
            catch (InvalidModelFileException)
            {
                failures++;
            }
            catch (Exception e)
            {
                Assert.Fail($"case {i} ({what}): undocumented {e.GetType().Name}: {e.Message}");
            }
        }
        Console.WriteLine($"model stream: 2000 damaged, {failures} InvalidModelFileException, {loaded} loaded (trailing bytes only)");
    }

    [TestMethod]
    public void ModelZip_300DamagedZips_LoadIdenticalOrThrowInvalidModelFile()
    {
        MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
        var ml = new MLContext(1).AddMLNetSlim();
        IDataView raw = Raw(ml, Rows(4));
        ITransformer chain = ml.Transforms.Conversion.MapValueToKey("Shape").Fit(raw).Append(new ControllableMultiTaskTransformer(TestModel()));
        string folder = Path.Combine(TestData.TempRoot, $"mlnetslim-fuzz-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            string path = Path.Combine(folder, "model.zip");
            ml.Model.SaveAtomic(chain, raw.Schema, path);
            byte[] good = File.ReadAllBytes(path);
            string Scores(ITransformer t) => string.Join(",", Read(t.Transform(raw), "Shape").Scores.SelectMany(x => x).Select(BitConverter.SingleToInt32Bits));
            string expected = Scores(chain);
            var rng = new Random(62);
            int failures = 0, identical = 0;
            for (int i = 0; i < 300; i++)
            {
                byte[] damaged = Damage(good, rng, out string what);
                File.WriteAllBytes(path, damaged);
                try
                {
                    ITransformer loaded = new MLContext(1).AddMLNetSlim().Model.LoadChecked(path, out _);
                    Assert.AreEqual(expected, Scores(loaded), $"case {i} ({what}): silent change");
                    identical++;
                }
                catch (InvalidModelFileException)
                {
                    failures++;
                }
                catch (Exception e) when (e is not AssertFailedException)
                {
                    Assert.Fail($"case {i} ({what}): undocumented {e.GetType().Name}: {e.Message}");
                }
            }
            Console.WriteLine($"model zip: 300 damaged, {failures} InvalidModelFileException, {identical} identical");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void LabelsTsv_300DamagedFiles_FitOrThrowDocumentedDataErrors()
    {
        // A labels TSV as the samples read it (header, one row per image), with the image inline as 12 float columns.
        var rng0 = new Random(7);
        var lines = new List<string> { "Shape\tSize\t" + string.Join("\t", Enumerable.Range(0, Size).Select(i => $"p{i}")) };
        for (int r = 0; r < 24; r++)
            lines.Add($"{Shapes[r % 3]}\t{Sizes[(r / 3) % 2]}\t" + string.Join("\t", Enumerable.Range(0, Size).Select(_ => rng0.NextDouble().ToString("0.###", System.Globalization.CultureInfo.InvariantCulture))));
        byte[] good = System.Text.Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n");
        string folder = Path.Combine(TestData.TempRoot, $"mlnetslim-fuzz-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        try
        {
            string path = Path.Combine(folder, "labels.tsv");
            var rng = new Random(63);
            int failures = 0, fitted = 0;
            var kinds = new Dictionary<string, int>();
            for (int i = 0; i < 300; i++)
            {
                byte[] damaged = Damage(good, rng, out string what);
                File.WriteAllBytes(path, damaged);
                var ml = new MLContext(1);
                try
                {
                    var loader = ml.Data.CreateTextLoader(new[]
                    {
                        new TextLoader.Column("Shape", DataKind.String, 0),
                        new TextLoader.Column("Size", DataKind.String, 1),
                        new TextLoader.Column("Features", DataKind.Single, 2, 2 + Size - 1),
                    }, separatorChar: '\t', hasHeader: true);
                    IDataView data = loader.Load(path);
                    var pipeline = ml.Transforms.Conversion.MapValueToKey("Shape").Append(ml.Transforms.Conversion.MapValueToKey("Size"))
                        .Append(new ControllableMultiTaskEstimator(ml, Options(), new FakeTrainer().Run));
                    pipeline.Fit(data);
                    fitted++;
                }
                catch (Exception e) when (e is InvalidOperationException or ArgumentOutOfRangeException)
                {
                    // The documented data errors: no rows, missing labels, non-finite features (row, column, value),
                    // fewer than 2 classes in a label column.
                    failures++;
                    string key = e.GetType().Name + ": " + string.Concat(e.Message.TakeWhile(ch => !char.IsDigit(ch) && ch != '\'')).Trim();
                    kinds[key] = kinds.GetValueOrDefault(key) + 1;
                }
                catch (Exception e)
                {
                    Assert.Fail($"case {i} ({what}): undocumented {e.GetType().Name}: {e.Message}");
                }
            }
            Console.WriteLine($"labels TSV: 300 damaged, {fitted} fitted, {failures} documented errors: {string.Join("; ", kinds.Select(k => $"{k.Value}x {k.Key}"))}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
