using System.Buffers.Binary;
using System.IO.Compression;

namespace MLNetSlim.Data;

/// <summary>
/// Reads and writes per-pixel label maps as grayscale PNG files, keeping their integer values exactly: 8-bit maps
/// (class indices, 0/1/255 edge or saliency masks) and 16-bit maps (depth in millimetres or another fixed unit, as
/// NYUD-v2 and most RGB-D sets store it). ML.NET's ImageAnalytics (<c>LoadImages</c>/<c>ExtractPixels</c>, MLImage)
/// decodes every image to 8 bits per channel, which truncates a 16-bit depth map, so label maps go through this reader
/// instead. Supported: colour type 0 (grayscale) at bit depth 8 or 16, colour type 3 (palette) at bit depth 8, read as
/// the palette indices (PASCAL VOC's class maps are palette PNGs whose indices are the classes), and colour type 2 (RGB)
/// at bit depth 8 or 16 as three channels (surface normals stored as colours); non-interlaced, all five PNG filter types
/// (PNG specification, ISO/IEC 15948:2004); other PNGs get an error that says what the file is.
/// </summary>
internal static class LabelMapPng
{
    private static readonly byte[] Signature = [137, 80, 78, 71, 13, 10, 26, 10];

    /// <summary>A decoded label map: the values in (C, H, W) order (C = <paramref name="Channels"/>: 1 for grayscale and
    /// palette PNGs, 3 for RGB), the size and the bit depth.</summary>
    public sealed record LabelMap(float[] Values, int Height, int Width, int BitDepth, int Channels = 1);

    /// <summary>Reads a grayscale PNG file.</summary>
    /// <exception cref="InvalidDataException">Not a PNG, or a PNG this reader does not support (names the file).</exception>
    public static LabelMap Read(string path)
    {
        using FileStream f = File.OpenRead(path);
        try
        {
            return Read(f);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"Label map '{path}': {e.Message}", e);
        }
    }

    /// <summary>Reads a grayscale PNG from a stream.</summary>
    /// <exception cref="InvalidDataException">Not a PNG, or an unsupported one.</exception>
    public static LabelMap Read(Stream stream)
    {
        using var reader = new BinaryReader(stream, System.Text.Encoding.ASCII, leaveOpen: true);
        byte[] signature = reader.ReadBytes(8);
        if (!signature.AsSpan().SequenceEqual(Signature)) throw new InvalidDataException("not a PNG file (bad signature).");
        int width = 0, height = 0, depth = 0, channels = 1;
        using var idat = new MemoryStream();
        while (true)
        {
            byte[] header = reader.ReadBytes(8);
            if (header.Length < 8) throw new InvalidDataException("truncated PNG (no IEND chunk).");
            int length = BinaryPrimitives.ReadInt32BigEndian(header);
            string type = System.Text.Encoding.ASCII.GetString(header, 4, 4);
            if (length < 0) throw new InvalidDataException($"chunk {type} has a negative length.");
            byte[] data = reader.ReadBytes(length);
            if (data.Length < length) throw new InvalidDataException($"truncated chunk {type}.");
            reader.ReadBytes(4); // CRC
            if (type == "IHDR")
            {
                width = BinaryPrimitives.ReadInt32BigEndian(data);
                height = BinaryPrimitives.ReadInt32BigEndian(data.AsSpan(4));
                depth = data[8];
                int colour = data[9], interlace = data[12];
                bool supported = colour switch { 0 or 2 => depth is 8 or 16, 3 => depth == 8, _ => false };
                if (!supported || interlace != 0)
                    throw new InvalidDataException($"a label map must be a non-interlaced PNG: grayscale of 8 or 16 bits, palette of 8 bits or RGB of 8 or 16 bits; this one has colour type {colour}, bit depth {depth}, interlace {interlace}.");
                channels = colour == 2 ? 3 : 1;
                if (width <= 0 || height <= 0) throw new InvalidDataException($"invalid size {width} x {height}.");
            }
            else if (type == "IDAT") idat.Write(data);
            else if (type == "IEND") break;
        }
        if (width == 0) throw new InvalidDataException("no IHDR chunk.");
        int bytesPerSample = depth / 8, bytesPerPixel = bytesPerSample * channels;
        int stride = width * bytesPerPixel;
        var raw = new byte[(long)height * (stride + 1)];
        idat.Position = 0;
        using (var z = new ZLibStream(idat, CompressionMode.Decompress))
        {
            int read = 0;
            while (read < raw.Length)
            {
                int n = z.Read(raw, read, raw.Length - read);
                if (n == 0) throw new InvalidDataException($"image data ends after {read} of {raw.Length} bytes.");
                read += n;
            }
        }
        var values = new float[(long)channels * height * width];
        long plane = (long)height * width;
        var previous = new byte[stride];
        var current = new byte[stride];
        for (int y = 0; y < height; y++)
        {
            int filter = raw[(long)y * (stride + 1)];
            Array.Copy(raw, (long)y * (stride + 1) + 1, current, 0, stride);
            Unfilter(filter, current, previous, bytesPerPixel);
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                {
                    int i = (x * channels + c) * bytesPerSample;
                    values[c * plane + (long)y * width + x] = depth == 8 ? current[i] : (current[i] << 8) | current[i + 1];
                }
            (previous, current) = (current, previous);
        }
        return new LabelMap(values, height, width, depth, channels);
    }

    private static void Unfilter(int filter, byte[] line, byte[] previous, int bpp)
    {
        for (int i = 0; i < line.Length; i++)
        {
            int a = i >= bpp ? line[i - bpp] : 0, b = previous[i], c = i >= bpp ? previous[i - bpp] : 0;
            line[i] = filter switch
            {
                0 => line[i],
                1 => (byte)(line[i] + a),
                2 => (byte)(line[i] + b),
                3 => (byte)(line[i] + ((a + b) >> 1)),
                4 => (byte)(line[i] + Paeth(a, b, c)),
                _ => throw new InvalidDataException($"unknown PNG filter type {filter}."),
            };
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    /// <summary>Writes a grayscale PNG of bit depth 8 or 16 (values rounded and clamped to the depth's range), each row
    /// with filter type <paramref name="filter"/> (0 none or 1 sub; tests use both). With <paramref name="channels"/> = 3,
    /// an RGB PNG of <paramref name="values"/> in (C, H, W) order; with <paramref name="palette"/>, an 8-bit palette PNG
    /// whose indices are the values (a gray palette).</summary>
    public static void Write(string path, ReadOnlySpan<float> values, int height, int width, int bitDepth, int filter = 0, int channels = 1, bool palette = false)
    {
        if (bitDepth is not (8 or 16)) throw new ArgumentOutOfRangeException(nameof(bitDepth), bitDepth, "8 or 16.");
        if (channels is not (1 or 3) || (palette && (channels != 1 || bitDepth != 8))) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 or 3; a palette PNG has 1 channel of 8 bits.");
        if (values.Length != channels * height * width) throw new ArgumentException($"{values.Length} values for {channels} x {height} x {width}.");
        int bpp = bitDepth / 8 * channels, stride = width * bpp, max = bitDepth == 8 ? 255 : 65535, sample = bitDepth / 8;
        var raw = new byte[height * (stride + 1)];
        for (int y = 0; y < height; y++)
        {
            var line = new byte[stride];
            for (int x = 0; x < width; x++)
                for (int c = 0; c < channels; c++)
                {
                    int v = (int)Math.Clamp(Math.Round(values[c * height * width + y * width + x]), 0, max);
                    int i = (x * channels + c) * sample;
                    if (sample == 1) line[i] = (byte)v;
                    else { line[i] = (byte)(v >> 8); line[i + 1] = (byte)v; }
                }
            raw[y * (stride + 1)] = (byte)filter;
            for (int i = 0; i < stride; i++)
                raw[y * (stride + 1) + 1 + i] = filter == 1 ? (byte)(line[i] - (i >= bpp ? line[i - bpp] : 0)) : line[i];
        }
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw);
        using FileStream f = File.Create(path);
        f.Write(Signature);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)(palette ? 3 : channels == 3 ? 2 : 0);
        WriteChunk(f, "IHDR", ihdr);
        if (palette) WriteChunk(f, "PLTE", Enumerable.Range(0, 256).SelectMany(i => new[] { (byte)i, (byte)i, (byte)i }).ToArray());
        WriteChunk(f, "IDAT", compressed.ToArray());
        WriteChunk(f, "IEND", []);
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        Span<byte> b4 = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b4, data.Length);
        s.Write(b4);
        byte[] typeAndData = [.. System.Text.Encoding.ASCII.GetBytes(type), .. data];
        s.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(b4, Crc32(typeAndData));
        s.Write(b4);
    }

    private static uint Crc32(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    /// <summary>Checks that a label map read from column <paramref name="column"/> has the image's size.</summary>
    /// <exception cref="InvalidOperationException">The sizes differ; names the column, the row and both sizes.</exception>
    public static void CheckSize(string column, long row, int labelHeight, int labelWidth, int imageHeight, int imageWidth)
    {
        if (labelHeight != imageHeight || labelWidth != imageWidth)
            throw new InvalidOperationException(
                $"Row {row} (0-based): the label map in column '{column}' is {labelHeight} x {labelWidth} (H x W) but the image is {imageHeight} x {imageWidth}; label maps must have the image's size.");
    }
}
