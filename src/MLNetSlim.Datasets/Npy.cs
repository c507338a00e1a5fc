using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MLNetSlim.Datasets;

/// <summary>
/// Reads NumPy <c>.npy</c> files (format versions 1.0, 2.0 and 3.0, https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
/// C-order arrays of little-endian float32 (<c>&lt;f4</c>), float64 (<c>&lt;f8</c>), uint8 (<c>|u1</c>), uint16
/// (<c>&lt;u2</c>), int32 (<c>&lt;i4</c>), int64 (<c>&lt;i8</c>) or bool (<c>|b1</c>), converted to float32. Anything else
/// (Fortran order, big-endian, other dtypes, pickled objects) is an error naming the file and what it holds.
/// </summary>
internal static class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>An array: values in C order and its shape.</summary>
    public sealed record Array(float[] Values, int[] Shape);

    /// <exception cref="InvalidDataException">Not a .npy file, or one this reader does not support; names the file.</exception>
    public static Array Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            return Parse(bytes);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($".npy file '{path}': {e.Message}", e);
        }
    }

    public static Array Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 10 || !bytes[..6].SequenceEqual(Magic)) throw new InvalidDataException("not a .npy file (bad magic).");
        int major = bytes[6];
        int headerLength, start;
        if (major == 1) { headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]); start = 10; }
        else if (major is 2 or 3) { headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]); start = 12; }
        else throw new InvalidDataException($"format version {major}.{bytes[7]} is not 1.0, 2.0 or 3.0.");
        if (headerLength < 0 || start + headerLength > bytes.Length) throw new InvalidDataException("truncated header.");
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(bytes.Slice(start, headerLength));
        string descr = Field(header, "descr").Trim().Trim('\'', '"');
        string fortran = Field(header, "fortran_order").Trim();
        if (fortran != "False") throw new InvalidDataException($"fortran_order is {fortran}; only C-order arrays are read.");
        string shapeText = Field(header, "shape").Trim();
        if (!shapeText.StartsWith('(') || !shapeText.EndsWith(')')) throw new InvalidDataException($"cannot read the shape {shapeText}.");
        int[] shape = shapeText[1..^1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => int.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        long count = shape.Aggregate(1L, (a, d) => a * d);
        (int size, Func<ReadOnlySpan<byte>, float> read) = descr switch
        {
            "<f4" => (4, (Func<ReadOnlySpan<byte>, float>)(b => BinaryPrimitives.ReadSingleLittleEndian(b))),
            "<f8" => (8, b => (float)BinaryPrimitives.ReadDoubleLittleEndian(b)),
            "|u1" => (1, b => b[0]),
            "|b1" => (1, b => b[0] != 0 ? 1f : 0f),
            "<u2" => (2, b => BinaryPrimitives.ReadUInt16LittleEndian(b)),
            "<i4" => (4, b => BinaryPrimitives.ReadInt32LittleEndian(b)),
            "<i8" => (8, b => BinaryPrimitives.ReadInt64LittleEndian(b)),
            _ => throw new InvalidDataException($"dtype '{descr}' is not read; supported: <f4, <f8, |u1, |b1, <u2, <i4, <i8."),
        };
        int data = start + headerLength;
        if (bytes.Length - data != count * size)
            throw new InvalidDataException($"shape ({string.Join(", ", shape)}) of {descr} needs {count * size} data bytes; the file has {bytes.Length - data}.");
        var values = new float[count];
        for (long i = 0; i < count; i++) values[i] = read(bytes.Slice((int)(data + i * size), size));
        return new Array(values, shape);
    }

    private static string Field(string header, string key)
    {
        int k = header.IndexOf($"'{key}'", StringComparison.Ordinal);
        if (k < 0) throw new InvalidDataException($"the header has no '{key}'.");
        int colon = header.IndexOf(':', k);
        int end = key == "shape" ? header.IndexOf(')', colon) + 1 : header.IndexOfAny([',', '}'], colon);
        if (colon < 0 || end <= colon) throw new InvalidDataException($"cannot read '{key}' in the header.");
        return header[(colon + 1)..end];
    }

    /// <summary>Writes a C-order float32 array (tests write fixtures in the real format with it).</summary>
    public static void WriteFloat32(string path, ReadOnlySpan<float> values, params int[] shape)
    {
        string dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape);
        string header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        int total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        using FileStream f = File.Create(path);
        f.Write(Magic);
        f.WriteByte(1);
        f.WriteByte(0);
        Span<byte> two = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(two, (ushort)header.Length);
        f.Write(two);
        f.Write(Encoding.Latin1.GetBytes(header));
        Span<byte> four = stackalloc byte[4];
        foreach (float v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(four, v);
            f.Write(four);
        }
    }
}
