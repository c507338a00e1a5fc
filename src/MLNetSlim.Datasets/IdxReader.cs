using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNetSlim.Datasets;

/// <summary>An unsigned-byte IDX array: its dimensions and its data in row-major order.</summary>
public sealed class IdxArray
{
    /// <summary>Creates an array.</summary>
    /// <param name="dimensions">The dimensions, outermost first.</param>
    /// <param name="data">The data, row-major; its length is the product of the dimensions.</param>
    /// <exception cref="ArgumentException">The data length is not the product of the dimensions.</exception>
    public IdxArray(IReadOnlyList<int> dimensions, byte[] data)
    {
        long product = 1;
        foreach (int d in dimensions) product *= d;
        if (product != data.LongLength)
            throw new ArgumentException($"Dimensions ({string.Join(", ", dimensions)}) need {product} bytes, got {data.LongLength}.", nameof(data));
        Dimensions = dimensions.ToArray();
        Data = data;
    }

    /// <summary>The dimensions, outermost first (for images: count, rows, columns).</summary>
    public IReadOnlyList<int> Dimensions { get; }

    /// <summary>The data, row-major.</summary>
    public byte[] Data { get; }
}

/// <summary>
/// Reads IDX files, the format of MNIST and Fashion-MNIST: a big-endian int32 magic number <c>0x000008DD</c> (two zero
/// bytes, the type byte 0x08 = unsigned byte, the number of dimensions DD), then DD big-endian int32 dimensions, then the
/// data as unsigned bytes in row-major order. Images files have magic <c>0x00000803</c> (count, rows, columns), label
/// files <c>0x00000801</c> (count). Files may be raw or gzip-compressed; compression is detected from the gzip magic
/// bytes 0x1f 0x8b, never from the file name.
/// </summary>
/// <remarks>Every error names the file and says what was wrong with it.</remarks>
public static class IdxReader
{
    /// <summary>Magic number of an IDX file of unsigned-byte images (3 dimensions).</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>Magic number of an IDX file of unsigned-byte labels (1 dimension).</summary>
    public const int LabelsMagic = 0x00000801;

    private const byte UnsignedByteType = 0x08;

    /// <summary>Reads any unsigned-byte IDX file (1 to 255 dimensions).</summary>
    /// <param name="path">The file, raw or gzipped.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not an unsigned-byte IDX file, is truncated or has trailing bytes.</exception>
    public static IdxArray Read(string path) => Read(path, expectedMagic: null);

    /// <summary>Reads an IDX images file (magic <c>0x00000803</c>, dimensions count × rows × columns).</summary>
    /// <param name="path">The file, raw or gzipped.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">Bad magic, truncated file or trailing bytes.</exception>
    public static IdxArray ReadImages(string path) => Read(path, ImagesMagic);

    /// <summary>Reads an IDX labels file (magic <c>0x00000801</c>, one dimension).</summary>
    /// <param name="path">The file, raw or gzipped.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">Bad magic, truncated file or trailing bytes.</exception>
    public static byte[] ReadLabels(string path) => Read(path, LabelsMagic).Data;

    /// <summary>Reads an images file and its labels file and checks that they hold the same number of items.</summary>
    /// <param name="imagesPath">The images file, raw or gzipped.</param>
    /// <param name="labelsPath">The labels file, raw or gzipped.</param>
    /// <param name="classNames">Names of the classes; every label must be below their count.</param>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="InvalidDataException">A file is malformed, the counts differ, or a label is out of range.</exception>
    public static LabeledImages ReadLabeledImages(string imagesPath, string labelsPath, IReadOnlyList<string> classNames)
    {
        IdxArray images = ReadImages(imagesPath);
        byte[] labels = ReadLabels(labelsPath);
        int count = images.Dimensions[0];
        if (count == 0 || images.Dimensions[1] == 0 || images.Dimensions[2] == 0)
            throw new InvalidDataException(
                $"Images file '{imagesPath}' declares ({string.Join(" x ", images.Dimensions)}) images; every dimension must be at least 1.");
        if (labels.Length != count)
            throw new InvalidDataException(
                $"Count mismatch: images file '{imagesPath}' holds {count} images but labels file '{labelsPath}' holds {labels.Length} labels.");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] >= classNames.Count)
                throw new InvalidDataException(
                    $"Labels file '{labelsPath}': label {labels[i]} at index {i} is outside [0, {classNames.Count}).");
        return new LabeledImages(images.Data, count, images.Dimensions[1], images.Dimensions[2], labels, classNames);
    }

    private static IdxArray Read(string path, int? expectedMagic)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"IDX file '{path}' does not exist.", path);
        using FileStream file = File.OpenRead(path);
        bool gzipped = IsGzip(file);
        using Stream stream = gzipped ? new GZipStream(file, CompressionMode.Decompress) : file;
        string what = gzipped ? "gzipped IDX file" : "IDX file";
        try
        {
            return ReadFrom(stream, path, what, expectedMagic);
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(what, StringComparison.Ordinal))
        {
            // Corrupt gzip data: GZipStream's message does not name the file.
            throw new InvalidDataException($"{what} '{path}' is corrupt: {e.Message}", e);
        }
    }

    private static bool IsGzip(FileStream file)
    {
        Span<byte> head = stackalloc byte[2];
        int n = file.ReadAtLeast(head, 2, throwOnEndOfStream: false);
        file.Position = 0;
        return n == 2 && head[0] == 0x1f && head[1] == 0x8b;
    }

    private static IdxArray ReadFrom(Stream stream, string path, string what, int? expectedMagic)
    {
        Span<byte> word = stackalloc byte[4];
        int got = stream.ReadAtLeast(word, 4, throwOnEndOfStream: false);
        if (got < 4)
            throw new InvalidDataException($"{what} '{path}' is truncated: {got} bytes, too short for the 4-byte magic number.");
        int magic = BinaryPrimitives.ReadInt32BigEndian(word);
        int rank = magic & 0xff;
        if (expectedMagic is int expected)
        {
            if (magic != expected)
                throw new InvalidDataException(
                    $"{what} '{path}' has bad magic number 0x{magic:x8}; expected 0x{expected:x8} ({Describe(expected)}).");
        }
        else if ((magic >> 16) != 0 || ((magic >> 8) & 0xff) != UnsignedByteType || rank == 0)
        {
            throw new InvalidDataException(
                $"{what} '{path}' has bad magic number 0x{magic:x8}; expected 0x000008NN (unsigned bytes, NN >= 1 dimensions).");
        }

        var dimensions = new int[rank];
        long size = 1;
        for (int d = 0; d < rank; d++)
        {
            got = stream.ReadAtLeast(word, 4, throwOnEndOfStream: false);
            if (got < 4)
                throw new InvalidDataException($"{what} '{path}' is truncated in its header: dimension {d + 1} of {rank} is missing.");
            dimensions[d] = BinaryPrimitives.ReadInt32BigEndian(word);
            if (dimensions[d] < 0)
                throw new InvalidDataException($"{what} '{path}' has negative dimension {d + 1}: {dimensions[d]}.");
            size *= dimensions[d];
            if (size > Array.MaxLength)
                throw new InvalidDataException($"{what} '{path}' declares dimensions ({string.Join(" x ", dimensions[..(d + 1)])}), too large to load.");
        }

        if (stream.CanSeek && stream.Length - stream.Position < size)
            throw new InvalidDataException(
                $"{what} '{path}' is truncated: its header declares ({string.Join(" x ", dimensions)}) = {size} data bytes but only {stream.Length - stream.Position} follow.");
        // A damaged header can declare up to 2 GB: grow the buffer as data actually arrives instead of trusting it.
        byte[] data = new byte[Math.Min(size, 1 << 20)];
        got = 0;
        while (got < size)
        {
            if (got == data.Length) Array.Resize(ref data, (int)Math.Min(size, (long)data.Length * 2));
            int r = stream.Read(data, got, data.Length - got);
            if (r == 0) break;
            got += r;
        }
        if (got < size)
            throw new InvalidDataException(
                $"{what} '{path}' is truncated: its header declares ({string.Join(" x ", dimensions)}) = {size} data bytes but only {got} follow.");
        if (stream.ReadByte() >= 0)
            throw new InvalidDataException(
                $"{what} '{path}' has trailing bytes after the {size} data bytes its header declares ({string.Join(" x ", dimensions)}).");
        return new IdxArray(dimensions, data);
    }

    private static string Describe(int magic) => magic switch
    {
        ImagesMagic => "unsigned-byte images, 3 dimensions",
        LabelsMagic => "unsigned-byte labels, 1 dimension",
        _ => "unsigned bytes",
    };
}
