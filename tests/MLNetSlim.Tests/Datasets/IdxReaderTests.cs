using System.Buffers.Binary;
using System.IO.Compression;
using MLNetSlim.Datasets;

namespace MLNetSlim.Tests.Datasets;

[TestClass]
public sealed class IdxReaderTests
{
    private string _folder = "";

    [TestInitialize]
    public void Setup() => _folder = TestData.NewTempFolder();

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_folder, recursive: true);

    /// <summary>Writes an IDX file by hand: big-endian magic, big-endian dimensions, then the bytes.</summary>
    private static byte[] Idx(int magic, int[] dimensions, byte[] data)
    {
        var bytes = new byte[4 + 4 * dimensions.Length + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (int d = 0; d < dimensions.Length; d++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * d), dimensions[d]);
        data.CopyTo(bytes, 4 + 4 * dimensions.Length);
        return bytes;
    }

    private static byte[] Gzip(byte[] bytes)
    {
        using var memory = new MemoryStream();
        using (var gzip = new GZipStream(memory, CompressionLevel.Optimal)) gzip.Write(bytes);
        return memory.ToArray();
    }

    private string Write(string name, byte[] bytes)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static readonly byte[] Pixels = Enumerable.Range(0, 3 * 2 * 4).Select(i => (byte)(i * 10 + 3)).ToArray();

    [TestMethod]
    [DataRow(false, "images.idx")]
    [DataRow(true, "images.bin")]      // gzip found from its magic, not the name
    [DataRow(false, "images.gz")]      // a raw file with a misleading name is read raw
    public void ImagesRoundTrip(bool gzip, string name)
    {
        byte[] file = Idx(0x803, [3, 2, 4], Pixels);
        string path = Write(name, gzip ? Gzip(file) : file);
        IdxArray read = IdxReader.ReadImages(path);
        CollectionAssert.AreEqual(new[] { 3, 2, 4 }, read.Dimensions.ToArray());
        CollectionAssert.AreEqual(Pixels, read.Data);
        Assert.AreEqual((byte)233, read.Data[23]);
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void LabeledImagesRoundTrip(bool gzip)
    {
        byte[] images = Idx(0x803, [3, 2, 4], Pixels), labels = Idx(0x801, [3], [2, 0, 1]);
        string imagesPath = Write("i", gzip ? Gzip(images) : images), labelsPath = Write("l", gzip ? Gzip(labels) : labels);
        LabeledImages set = IdxReader.ReadLabeledImages(imagesPath, labelsPath, ["a", "b", "c"]);
        Assert.AreEqual(3, set.Count);
        Assert.AreEqual(2, set.Height);
        Assert.AreEqual(4, set.Width);
        CollectionAssert.AreEqual(new byte[] { 2, 0, 1 }, set.Labels);
        CollectionAssert.AreEqual(Pixels[8..16], set.Image(1).ToArray());
    }

    [TestMethod]
    public void GenericReadAcceptsAnyRank()
    {
        string path = Write("x", Idx(0x802, [4, 6], Pixels));
        IdxArray read = IdxReader.Read(path);
        CollectionAssert.AreEqual(new[] { 4, 6 }, read.Dimensions.ToArray());
        CollectionAssert.AreEqual(Pixels, read.Data);
    }

    [TestMethod]
    public void BadMagicNamesFileAndMagic()
    {
        string path = Write("labels-as-images", Idx(0x801, [3], [1, 2, 3]));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadImages(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "bad magic number 0x00000801");
        StringAssert.Contains(e.Message, "expected 0x00000803");

        string floats = Write("float-type", Idx(0x00000D01, [1], [0, 0, 0, 0]));
        e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.Read(floats));
        StringAssert.Contains(e.Message, floats);
        StringAssert.Contains(e.Message, "bad magic number 0x00000d01");
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void TruncatedDataNamesFile(bool gzip)
    {
        byte[] file = Idx(0x803, [3, 2, 4], Pixels)[..^5];
        string path = Write("short", gzip ? Gzip(file) : file);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadImages(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "truncated");
        StringAssert.Contains(e.Message, "24 data bytes but only 19");
    }

    [TestMethod]
    public void TruncatedHeaderAndCutGzipNameFile()
    {
        string header = Write("header", Idx(0x803, [3, 2, 4], [])[..9]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadImages(header));
        StringAssert.Contains(e.Message, header);
        StringAssert.Contains(e.Message, "truncated in its header");

        string empty = Write("empty", []);
        e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadLabels(empty));
        StringAssert.Contains(e.Message, empty);
        StringAssert.Contains(e.Message, "truncated");

        // A gzip stream cut in the middle: either the stream is reported corrupt or the data short; both name the file.
        byte[] gz = Gzip(Idx(0x803, [50, 28, 28], Enumerable.Range(0, 50 * 784).Select(i => (byte)(i * 7919 % 251)).ToArray()));
        string cut = Write("cut.gz", gz[..(gz.Length / 2)]);
        e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadImages(cut));
        StringAssert.Contains(e.Message, cut);
        StringAssert.Contains(e.Message, "gzipped IDX file");
    }

    [TestMethod]
    public void TrailingBytesAreAnError()
    {
        string path = Write("long", [.. Idx(0x801, [3], [1, 2, 3]), 9]);
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadLabels(path));
        StringAssert.Contains(e.Message, path);
        StringAssert.Contains(e.Message, "trailing bytes");
    }

    [TestMethod]
    public void CountMismatchNamesBothFiles()
    {
        string images = Write("imgs", Idx(0x803, [3, 2, 4], Pixels));
        string labels = Write("lbls", Idx(0x801, [2], [0, 1]));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadLabeledImages(images, labels, ["a", "b"]));
        StringAssert.Contains(e.Message, "Count mismatch");
        StringAssert.Contains(e.Message, images);
        StringAssert.Contains(e.Message, labels);
        StringAssert.Contains(e.Message, "3 images");
        StringAssert.Contains(e.Message, "2 labels");
    }

    [TestMethod]
    public void LabelOutOfRangeNamesFile()
    {
        string images = Write("imgs", Idx(0x803, [3, 2, 4], Pixels));
        string labels = Write("lbls", Idx(0x801, [3], [0, 1, 7]));
        var e = Assert.ThrowsExactly<InvalidDataException>(() => IdxReader.ReadLabeledImages(images, labels, ["a", "b"]));
        StringAssert.Contains(e.Message, labels);
        StringAssert.Contains(e.Message, "label 7 at index 2");
    }

    [TestMethod]
    public void MissingFileIsFileNotFound()
    {
        string path = Path.Combine(_folder, "nope");
        var e = Assert.ThrowsExactly<FileNotFoundException>(() => IdxReader.ReadImages(path));
        StringAssert.Contains(e.Message, path);
    }
}
