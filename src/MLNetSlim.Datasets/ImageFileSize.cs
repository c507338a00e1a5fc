using System.Buffers.Binary;

namespace MLNetSlim.Datasets;

/// <summary>Reads the pixel size of a JPEG (from its start-of-frame marker) or PNG (from IHDR) without decoding it.</summary>
internal static class ImageFileSize
{
    /// <exception cref="InvalidDataException">Neither a JPEG with a start-of-frame marker nor a PNG; names the file.</exception>
    public static (int Height, int Width) Read(string path)
    {
        using FileStream f = File.OpenRead(path);
        var head = new byte[24];
        int n = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (n >= 24 && head[0] == 0x89 && head[1] == (byte)'P' && head[2] == (byte)'N' && head[3] == (byte)'G')
            return (BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(20)), BinaryPrimitives.ReadInt32BigEndian(head.AsSpan(16)));
        if (n >= 2 && head[0] == 0xFF && head[1] == 0xD8)
        {
            f.Position = 2;
            var marker = new byte[9];
            while (f.ReadAtLeast(marker.AsSpan(0, 4), 4, throwOnEndOfStream: false) == 4)
            {
                if (marker[0] != 0xFF) break;
                byte type = marker[1];
                int length = BinaryPrimitives.ReadUInt16BigEndian(marker.AsSpan(2));
                bool startOfFrame = type is >= 0xC0 and <= 0xCF && type is not (0xC4 or 0xC8 or 0xCC);
                if (startOfFrame)
                {
                    if (f.ReadAtLeast(marker.AsSpan(0, 5), 5, throwOnEndOfStream: false) < 5) break;
                    return (BinaryPrimitives.ReadUInt16BigEndian(marker.AsSpan(1)), BinaryPrimitives.ReadUInt16BigEndian(marker.AsSpan(3)));
                }
                if (length < 2) break;
                f.Position += length - 2;
            }
            throw new InvalidDataException($"Image '{path}': a JPEG without a readable start-of-frame marker.");
        }
        throw new InvalidDataException($"Image '{path}' is neither a JPEG nor a PNG file.");
    }
}
