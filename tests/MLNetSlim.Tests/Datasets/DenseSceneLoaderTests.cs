using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Data;
using MLNetSlim.Datasets;
using SkiaSharp;

namespace MLNetSlim.Tests.Datasets;

/// <summary>NYUD-v2 and PASCAL-Context loaders on small files the tests write in the real multi-task layout (NYUD_MT,
/// PASCAL_MT of public multi-task code): columns, sizes, value conventions, resizing, laziness and layout errors.</summary>
[TestClass]
public class DenseSceneLoaderTests
{
    internal static void WriteJpeg(string path, int height, int width, int seed)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var rng = new Random(seed);
        using var bitmap = new SKBitmap(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) bitmap.SetPixel(x, y, new SKColor((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)));
        using SKData data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        File.WriteAllBytes(path, data.ToArray());
    }

    private static void Png(string path, float[] values, int h, int w, int channels = 1, bool palette = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        LabelMapPng.Write(path, values, h, w, 8, channels: channels, palette: palette);
    }

    private static void NpyFile(string path, float[] values, params int[] shape)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        Npy.WriteFloat32(path, values, shape);
    }

    private static void SplitList(string path, params string[] ids)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllLines(path, ids);
    }

    /// <summary>Stored files of one NYUD image: segmentation (0..40), depth (m), normals (H, W, 3), edge.</summary>
    internal sealed record NyudImage(float[] Seg, float[] Depth, float[] NormalsHwc, float[] Edge);

    /// <summary>Writes a NYUD_MT folder with the given ids, each H x W.</summary>
    internal static Dictionary<string, NyudImage> WriteNyud(string root, int h, int w, string split, params string[] ids)
    {
        var rng = new Random(ids.Length * 31 + h);
        var result = new Dictionary<string, NyudImage>();
        SplitList(Path.Combine(root, "gt_sets", split + ".txt"), ids);
        foreach (string id in ids)
        {
            WriteJpeg(Path.Combine(root, "images", id + ".jpg"), h, w, id.GetHashCode());
            float[] seg = Enumerable.Range(0, h * w).Select(i => (float)(i == 0 ? 0 : rng.Next(41))).ToArray();
            float[] depth = Enumerable.Range(0, h * w).Select(i => i == 1 ? 0f : (float)(0.5 + 9 * rng.NextDouble())).ToArray();
            var normals = new float[h * w * 3];
            for (int p = 0; p < h * w; p++)
            {
                double a = rng.NextDouble() * Math.PI, b = rng.NextDouble() * Math.PI;
                (normals[3 * p], normals[3 * p + 1], normals[3 * p + 2]) = ((float)(Math.Sin(a) * Math.Cos(b)), (float)(Math.Sin(a) * Math.Sin(b)), (float)Math.Cos(a));
            }
            float[] edge = Enumerable.Range(0, h * w).Select(_ => (float)rng.Next(2)).ToArray();
            Png(Path.Combine(root, "segmentation", id + ".png"), seg, h, w);
            NpyFile(Path.Combine(root, "depth", id + ".npy"), depth, h, w);
            NpyFile(Path.Combine(root, "normals", id + ".npy"), normals, h, w, 3);
            NpyFile(Path.Combine(root, "edge", id + ".npy"), edge, h, w);
            result[id] = new NyudImage(seg, depth, normals, edge);
        }
        return result;
    }

    private static List<Dictionary<string, float[]>> Rows(IDataView view, out List<string> names)
    {
        var rows = new List<Dictionary<string, float[]>>();
        names = [];
        DataViewSchema.Column[] labels = view.Schema.Where(c => c.Type is VectorDataViewType).ToArray();
        using DataViewRowCursor cursor = view.GetRowCursor(view.Schema);
        var getName = cursor.GetGetter<ReadOnlyMemory<char>>(view.Schema["Name"]);
        var getters = labels.Select(c => cursor.GetGetter<VBuffer<float>>(c)).ToArray();
        while (cursor.MoveNext())
        {
            ReadOnlyMemory<char> name = default;
            getName(ref name);
            names.Add(name.ToString());
            var row = new Dictionary<string, float[]>();
            for (int t = 0; t < labels.Length; t++)
            {
                VBuffer<float> v = default;
                getters[t](ref v);
                row[labels[t].Name] = v.DenseValues().ToArray();
            }
            rows.Add(row);
        }
        return rows;
    }

    [TestMethod]
    public void Nyud_ColumnsAndValueConventions_AtTheImageSize()
    {
        string root = TestData.NewTempFolder();
        var files = WriteNyud(root, 4, 6, "train", "0003", "0010");
        IDataView view = NyudV2.LoadDataView(root, "train", height: 4, width: 6);
        CollectionAssert.AreEqual(new[] { "Name", "ImagePath", "semseg", "depth", "normals", "edge" }, view.Schema.Select(c => c.Name).ToArray());
        CollectionAssert.AreEqual(new[] { 1, 4, 6 }, ((VectorDataViewType)view.Schema["semseg"].Type).Dimensions.ToArray());
        CollectionAssert.AreEqual(new[] { 3, 4, 6 }, ((VectorDataViewType)view.Schema["normals"].Type).Dimensions.ToArray());
        Assert.AreEqual(2L, view.GetRowCount());
        var rows = Rows(view, out var names);
        CollectionAssert.AreEqual(new[] { "0003", "0010" }, names);
        string[] paths = view.GetColumn<string>("ImagePath").ToArray();
        Assert.AreEqual(Path.GetFullPath(Path.Combine(root, "images", "0010.jpg")), paths[1]);
        for (int r = 0; r < 2; r++)
        {
            NyudImage f = files[names[r]];
            // Segmentation: 0 (unlabelled) -> 255, c -> c - 1.
            CollectionAssert.AreEqual(f.Seg.Select(v => v == 0 ? 255f : v - 1).ToArray(), rows[r]["semseg"]);
            Assert.AreEqual(255f, rows[r]["semseg"][0]);
            CollectionAssert.AreEqual(f.Depth, rows[r]["depth"], "depth in metres as stored, 0 kept (ignored by the task)");
            CollectionAssert.AreEqual(f.Edge, rows[r]["edge"]);
            // Normals (H, W, 3) -> (3, H, W).
            for (int p = 0; p < 24; p++)
                for (int c = 0; c < 3; c++) Assert.AreEqual(f.NormalsHwc[3 * p + c], rows[r]["normals"][c * 24 + p]);
        }
        Assert.AreEqual(MLNetSlim.Architecture.TaskKind.Segmentation, TaskKindOf("semseg"));
        Assert.AreEqual(40, NyudV2.Tasks[0].NumClasses);
        Assert.AreEqual(0.0, NyudV2.Tasks[1].IgnoreValue);
    }

    private static MLNetSlim.Architecture.TaskKind TaskKindOf(string name) => NyudV2.Tasks.Single(t => t.Name == name).Kind;

    [TestMethod]
    public void Nyud_ResizesLabelMapsByNearestNeighbour()
    {
        string root = TestData.NewTempFolder();
        var files = WriteNyud(root, 6, 8, "val", "a");
        var rows = Rows(NyudV2.LoadDataView(root, "val", height: 3, width: 4, tasks: ["depth", "semseg"]), out _);
        Assert.AreEqual(2, rows[0].Count, "only the requested tasks");
        // Output (y, x) <- source (floor((y + 0.5) * 6 / 3), floor((x + 0.5) * 8 / 4)) = (2y + 1, 2x + 1).
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                Assert.AreEqual(files["a"].Depth[(2 * y + 1) * 8 + 2 * x + 1], rows[0]["depth"][y * 4 + x], $"({y}, {x})");
        Assert.AreEqual(12, rows[0]["semseg"].Length);
    }

    [TestMethod]
    public void Pascal_ImagesOfDifferentSizes_ValueConventions_AndThe59ClassMapping()
    {
        string root = TestData.NewTempFolder();
        SplitList(Path.Combine(root, "ImageSets", "Context", "train.txt"), "2008_000002", "2008_000003");
        (string Id, int H, int W)[] images = [("2008_000002", 5, 7), ("2008_000003", 8, 6)];
        var rng = new Random(3);
        var stored = new Dictionary<string, Dictionary<string, float[]>>();
        foreach ((string id, int h, int w) in images)
        {
            int n = h * w;
            WriteJpeg(Path.Combine(root, "JPEGImages", id + ".jpg"), h, w, 1);
            var s = stored[id] = new Dictionary<string, float[]>
            {
                ["semseg"] = Enumerable.Range(0, n).Select(i => i == 0 ? 255f : rng.Next(21)).ToArray(),
                ["parts"] = id.EndsWith('2') ? new float[n] : Enumerable.Range(0, n).Select(_ => (float)rng.Next(7)).ToArray(),
                ["sal"] = Enumerable.Range(0, n).Select(_ => (float)rng.Next(256)).ToArray(),
                ["normals"] = Enumerable.Range(0, 3 * n).Select(_ => (float)rng.Next(256)).ToArray(),
                ["edge"] = Enumerable.Range(0, n).Select(_ => rng.Next(3) == 0 ? 255f : 0f).ToArray(),
                ["context59"] = Enumerable.Range(0, n).Select(_ => (float)rng.Next(60)).ToArray(),
            };
            // The first image's class map is a VOC palette PNG (semseg/VOC12), the second a gray one (semseg/pascal-context).
            if (id.EndsWith('2')) Png(Path.Combine(root, "semseg", "VOC12", id + ".png"), s["semseg"], h, w, palette: true);
            else Png(Path.Combine(root, "semseg", "pascal-context", id + ".png"), s["semseg"], h, w);
            Png(Path.Combine(root, "human_parts", id + ".png"), s["parts"], h, w);
            Png(Path.Combine(root, "sal_distill", id + ".png"), s["sal"], h, w);
            Png(Path.Combine(root, "normals_distill", id + ".png"), s["normals"], h, w, channels: 3);
            Png(Path.Combine(root, "edge", id + ".png"), s["edge"], h, w);
            Png(Path.Combine(root, "SegmentationClassContext", id + ".png"), s["context59"], h, w);
        }
        // At the first image's own size, values are exact.
        IDataView view = PascalContext.LoadDataView(root, "train", height: 5, width: 7);
        CollectionAssert.AreEqual(new[] { "Name", "ImagePath", "semseg", "human_parts", "sal", "normals", "edge" }, view.Schema.Select(c => c.Name).ToArray());
        var rows = Rows(view, out var names);
        var first = stored["2008_000002"];
        CollectionAssert.AreEqual(first["semseg"], rows[0]["semseg"], "palette indices are the classes");
        Assert.IsTrue(rows[0]["human_parts"].All(v => v == 255), "an all-zero part map (no people) is ignored entirely");
        CollectionAssert.AreEqual(first["sal"].Select(v => v / 255f > 0.5f ? 1f : 0f).ToArray(), rows[0]["sal"]);
        CollectionAssert.AreEqual(first["edge"].Select(v => v > 0 ? 1f : 0f).ToArray(), rows[0]["edge"]);
        float[] nrm = rows[0]["normals"];
        for (int p = 0; p < 35; p++)
        {
            double x = 2 * first["normals"][p] / 255.0 - 1, y = 2 * first["normals"][35 + p] / 255.0 - 1, z = 2 * first["normals"][70 + p] / 255.0 - 1;
            double len = Math.Sqrt(x * x + y * y + z * z);
            Assert.AreEqual(x / len, nrm[p], 1e-5);
            Assert.AreEqual(z / len, nrm[70 + p], 1e-5);
        }
        // The second image (8 x 6) resized to 5 x 7 by nearest neighbour; its parts are kept as classes.
        var second = stored["2008_000003"];
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 7; x++)
            {
                int sy = (int)((y + 0.5) * 8 / 5), sx = (int)((x + 0.5) * 6 / 7);
                Assert.AreEqual(second["semseg"][sy * 6 + sx], rows[1]["semseg"][y * 7 + x]);
                Assert.AreEqual(second["parts"][sy * 6 + sx], rows[1]["human_parts"][y * 7 + x]);
            }
        // 59 classes: SegmentationClassContext, 0 -> 255, c -> c - 1.
        var rows59 = Rows(PascalContext.LoadDataView(root, "train", 5, 7, ["semseg"], semsegClasses: 59), out _);
        CollectionAssert.AreEqual(first["context59"].Select(v => v == 0 ? 255f : v - 1).ToArray(), rows59[0]["semseg"]);
    }

    [TestMethod]
    public void Streams_FilesAreReadOnlyWhileCursoring_AndOnlyForActiveColumns()
    {
        string root = TestData.NewTempFolder();
        WriteNyud(root, 4, 4, "train", "a", "b", "c");
        IDataView view = NyudV2.LoadDataView(root, "train", 4, 4, ["depth"]);
        // Damage row c's depth after the view was made: rows a and b still read, c fails when reached.
        File.WriteAllBytes(Path.Combine(root, "depth", "c.npy"), [1, 2, 3]);
        Assert.AreEqual(3, view.GetColumn<string>("Name").Count(), "the Name column alone reads no label file");
        using DataViewRowCursor cursor = view.GetRowCursor(view.Schema);
        var depth = cursor.GetGetter<VBuffer<float>>(view.Schema["depth"]);
        VBuffer<float> v = default;
        Assert.IsTrue(cursor.MoveNext());
        depth(ref v);
        Assert.IsTrue(cursor.MoveNext());
        depth(ref v);
        Assert.IsTrue(cursor.MoveNext());
        var e = Assert.ThrowsExactly<InvalidDataException>(() => depth(ref v));
        StringAssert.Contains(e.Message, Path.Combine(root, "depth", "c.npy"));
    }

    [TestMethod]
    public void LayoutErrors_NameThePathAndWhatWasExpected()
    {
        string root = TestData.NewTempFolder();
        WriteNyud(root, 4, 4, "train", "a", "b");

        var split = Assert.ThrowsExactly<FileNotFoundException>(() => NyudV2.LoadDataView(root, "test", 4, 4));
        StringAssert.Contains(split.Message, Path.Combine(root, "gt_sets", "test.txt"));
        StringAssert.Contains(split.Message, "Split lists present: train.");

        File.Delete(Path.Combine(root, "edge", "b.npy"));
        var label = Assert.ThrowsExactly<FileNotFoundException>(() => NyudV2.LoadDataView(root, "train", 4, 4));
        StringAssert.Contains(label.Message, "image '" + Path.Combine(root, "images", "b.jpg") + "' has no label file for task 'edge'; expected '" + Path.Combine(root, "edge", "b.npy"));
        NyudV2.LoadDataView(root, "train", 4, 4, ["semseg", "depth", "normals"]); // the other tasks still load

        File.WriteAllText(Path.Combine(root, "edge", "b.mat"), "MATLAB 5.0 MAT-file");
        var kind = Assert.ThrowsExactly<NotSupportedException>(() => NyudV2.LoadDataView(root, "train", 4, 4));
        StringAssert.Contains(kind.Message, Path.Combine(root, "edge", "b.mat") + "' is a file kind this loader does not read; supported: .npy");

        // A label map of another size than its image: found while cursoring, naming both.
        Npy.WriteFloat32(Path.Combine(root, "depth", "a.npy"), new float[15], 3, 5);
        IDataView view = NyudV2.LoadDataView(root, "train", 4, 4, ["depth"]);
        var size = Assert.ThrowsExactly<InvalidDataException>(() => Rows(view, out _));
        StringAssert.Contains(size.Message, $"label map '{Path.Combine(root, "depth", "a.npy")}' is 3 x 5 (H x W) but its image '{Path.Combine(root, "images", "a.jpg")}' is 4 x 4");

        File.Delete(Path.Combine(root, "images", "b.jpg"));
        var image = Assert.ThrowsExactly<FileNotFoundException>(() => NyudV2.LoadDataView(root, "train", 4, 4, ["semseg"]));
        StringAssert.Contains(image.Message, $"image '{Path.Combine(root, "images", "b.jpg")}' of id 'b' (line 2 of");

        Assert.ThrowsExactly<DataUnavailableException>(() => NyudV2.LoadDataView(Path.Combine(root, "nope")));
        var task = Assert.ThrowsExactly<ArgumentException>(() => PascalContext.LoadDataView(root, tasks: ["depth"]));
        StringAssert.Contains(task.Message, "PASCAL-Context has no task 'depth'; its tasks are semseg, human_parts, sal, normals, edge.");
    }

    [TestMethod]
    public void Pascal_MatLabelsOfTheLayout_AreAnErrorNamingTheFileAndTheSupportedKind()
    {
        string root = TestData.NewTempFolder();
        SplitList(Path.Combine(root, "ImageSets", "Context", "val.txt"), "2008_000005");
        WriteJpeg(Path.Combine(root, "JPEGImages", "2008_000005.jpg"), 4, 4, 2);
        Directory.CreateDirectory(Path.Combine(root, "pascal-context", "trainval"));
        File.WriteAllText(Path.Combine(root, "pascal-context", "trainval", "2008_000005.mat"), "MATLAB");
        var e = Assert.ThrowsExactly<NotSupportedException>(() => PascalContext.LoadDataView(root, "val", 4, 4, ["edge"]));
        StringAssert.Contains(e.Message, Path.Combine(root, "pascal-context", "trainval", "2008_000005.mat"));
        StringAssert.Contains(e.Message, "supported: .png");
        Directory.CreateDirectory(Path.Combine(root, "human_parts"));
        File.WriteAllText(Path.Combine(root, "human_parts", "2008_000005.mat"), "MATLAB");
        e = Assert.ThrowsExactly<NotSupportedException>(() => PascalContext.LoadDataView(root, "val", 4, 4, ["human_parts"]));
        StringAssert.Contains(e.Message, Path.Combine(root, "human_parts", "2008_000005.mat"));
    }

    [TestMethod]
    public void Npy_ReadsTheSupportedKinds_AndNamesWhatItDoesNot()
    {
        string folder = TestData.NewTempFolder();
        string f4 = Path.Combine(folder, "a.npy");
        Npy.WriteFloat32(f4, [1.5f, -2, 3, 4, 5, 6], 2, 3);
        Npy.Array a = Npy.Read(f4);
        CollectionAssert.AreEqual(new[] { 2, 3 }, a.Shape);
        CollectionAssert.AreEqual(new[] { 1.5f, -2, 3, 4, 5, 6 }, a.Values);
        Assert.AreEqual(0, (10 + BitConverter.ToUInt16(System.IO.File.ReadAllBytes(f4), 8)) % 64, "header padded to 64 bytes as numpy writes it");

        static byte[] NpyBytes(string descr, string shape, byte[] data, string order = "False")
        {
            string header = $"{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}\n";
            return [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, 0, .. System.Text.Encoding.ASCII.GetBytes(header), .. data];
        }
        CollectionAssert.AreEqual(new[] { 0.25f, 8 }, Npy.Parse(NpyBytes("<f8", "(2,)", [.. BitConverter.GetBytes(0.25), .. BitConverter.GetBytes(8.0)])).Values);
        CollectionAssert.AreEqual(new[] { 7f, 255 }, Npy.Parse(NpyBytes("|u1", "(1, 2)", [7, 255])).Values);
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => Npy.Parse(NpyBytes("<f4", "(1,)", new byte[4], "True"))).Message, "fortran_order is True");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => Npy.Parse(NpyBytes(">f4", "(1,)", new byte[4]))).Message, "dtype '>f4' is not read");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => Npy.Parse(NpyBytes("<f4", "(3,)", new byte[4]))).Message, "needs 12 data bytes; the file has 4");
    }

    [TestMethod]
    public void ImageFileSize_ReadsJpegAndPngHeaders()
    {
        string folder = TestData.NewTempFolder();
        WriteJpeg(Path.Combine(folder, "a.jpg"), 13, 21, 1);
        Assert.AreEqual((13, 21), ImageFileSize.Read(Path.Combine(folder, "a.jpg")));
        LabelMapPng.Write(Path.Combine(folder, "b.png"), new float[35], 5, 7, 8);
        Assert.AreEqual((5, 7), ImageFileSize.Read(Path.Combine(folder, "b.png")));
        System.IO.File.WriteAllText(Path.Combine(folder, "c.jpg"), "not an image");
        StringAssert.Contains(Assert.ThrowsExactly<InvalidDataException>(() => ImageFileSize.Read(Path.Combine(folder, "c.jpg"))).Message, "neither a JPEG nor a PNG");
    }
}
