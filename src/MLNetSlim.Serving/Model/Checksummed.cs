using System.Buffers.Binary;
using System.Security.Cryptography;

namespace MLNetSlim.Model;

/// <summary>
/// The integrity frame of every stream MLNetSlim writes (model stream v2, the transformer's record in an ML.NET zip,
/// training checkpoints): int64 little-endian payload length, the payload, then the 32-byte SHA-256 of the payload.
/// The reader reads the whole payload, verifies length and hash, and only then hands it to the parser, so a damaged
/// or truncated file is reported before any of its bytes are interpreted.
/// </summary>
internal static class Checksummed
{
    /// <summary>Largest payload accepted (2 GiB - 1: one MemoryStream).</summary>
    public const long MaxPayload = int.MaxValue;

    private const int HashSize = 32;

    /// <summary>Writes <paramref name="writePayload"/>'s bytes framed with their length and SHA-256.</summary>
    public static void Write(Stream target, Action<Stream> writePayload)
    {
        using var payload = new MemoryStream();
        writePayload(payload);
        Write(target, payload.GetBuffer().AsSpan(0, (int)payload.Length));
    }

    /// <summary>Writes <paramref name="payload"/> framed with its length and SHA-256.</summary>
    public static void Write(Stream target, ReadOnlySpan<byte> payload)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, payload.Length);
        target.Write(length);
        target.Write(payload);
        Span<byte> hash = stackalloc byte[HashSize];
        SHA256.HashData(payload, hash);
        target.Write(hash);
    }

    /// <summary>Reads and verifies one frame; returns the payload.</summary>
    /// <param name="source">Positioned at the frame.</param>
    /// <param name="section">Names the section in errors (e.g. "model stream").</param>
    /// <exception cref="InvalidModelFileException">Truncated, implausible length, or checksum mismatch.</exception>
    public static byte[] Read(Stream source, string section)
    {
        Span<byte> length = stackalloc byte[8];
        int got = ReadFully(source, length);
        if (got < 8) throw new InvalidModelFileException(null, section, $"the file is truncated: it ends {got} bytes into the 8-byte length of the {section}.");
        long n = BinaryPrimitives.ReadInt64LittleEndian(length);
        if (n < 0 || n > MaxPayload)
            throw new InvalidModelFileException(null, section, $"the stored length of the {section} ({n} bytes) is impossible; the file is damaged.");
        if (source.CanSeek)
        {
            long left = source.Length - source.Position;
            if (left < n + HashSize)
                throw new InvalidModelFileException(null, section, $"the file is truncated: the {section} needs {n + HashSize} more bytes (payload and SHA-256), only {left} are left.");
        }
        var payload = new byte[n];
        got = ReadFully(source, payload);
        if (got < n) throw new InvalidModelFileException(null, section, $"the file is truncated: the {section} holds {got} of its {n} bytes.");
        Span<byte> stored = stackalloc byte[HashSize];
        got = ReadFully(source, stored);
        if (got < HashSize) throw new InvalidModelFileException(null, section, $"the file is truncated: the SHA-256 of the {section} is missing ({got} of {HashSize} bytes).");
        Span<byte> actual = stackalloc byte[HashSize];
        SHA256.HashData(payload, actual);
        if (!actual.SequenceEqual(stored))
            throw new InvalidModelFileException(null, section, $"checksum mismatch: the SHA-256 of the {section} ({n} bytes) differs from the one stored when it was saved; the file is damaged.");
        return payload;
    }

    private static int ReadFully(Stream s, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int r = s.Read(buffer[total..]);
            if (r == 0) break;
            total += r;
        }
        return total;
    }
}
