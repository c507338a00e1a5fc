using System.IO.Compression;

namespace MLNetSlim.Model;

/// <summary>
/// Verifies every entry of a zip against the CRC-32 stored in its central directory. .NET's ZipArchive does not
/// (checked on .NET 10.0.12: a bit flip inside a deflated entry reads back as different bytes without an error), so
/// without this a damaged ML.NET model zip could load as a silently different model.
/// </summary>
internal static class ZipIntegrity
{
    /// <summary>Opens <paramref name="path"/> as a zip and verifies every entry.</summary>
    /// <exception cref="InvalidModelFileException">Not a zip, damaged structure, an entry that cannot be decompressed,
    /// or a CRC-32 mismatch; the message names the file and the entry.</exception>
    public static void VerifyFile(string path)
    {
        try
        {
            using FileStream f = File.OpenRead(path);
            ZipArchive zip;
            try
            {
                zip = new ZipArchive(f, ZipArchiveMode.Read, leaveOpen: true);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or NotSupportedException)
            {
                throw new InvalidModelFileException(path, null, "not a readable zip archive (its directory is missing or damaged, or the file is truncated).", e);
            }
            using (zip) Verify(zip);
        }
        catch (InvalidModelFileException e)
        {
            throw e.WithFile(path);
        }
    }

    /// <summary>Verifies every entry of an open archive.</summary>
    /// <exception cref="InvalidModelFileException">As <see cref="VerifyFile"/>, without the file name.</exception>
    public static void Verify(ZipArchive zip)
    {
        var buffer = new byte[81920];
        IReadOnlyCollection<ZipArchiveEntry> entries;
        try
        {
            entries = zip.Entries;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or NotSupportedException)
        {
            throw new InvalidModelFileException(null, null, "the zip directory is damaged.", e);
        }
        foreach (ZipArchiveEntry entry in entries)
        {
            uint crc = Crc32.Initial;
            long length = 0;
            try
            {
                using Stream s = entry.Open();
                int r;
                while ((r = s.Read(buffer, 0, buffer.Length)) > 0)
                {
                    crc = Crc32.Update(crc, buffer.AsSpan(0, r));
                    length += r;
                }
            }
            catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException or NotSupportedException)
            {
                throw new InvalidModelFileException(null, entry.FullName, "the entry cannot be read or decompressed; the file is damaged.", e);
            }
            if (length != entry.Length)
                throw new InvalidModelFileException(null, entry.FullName, $"the entry holds {length} bytes, the zip directory says {entry.Length}; the file is damaged.");
            if (Crc32.Final(crc) != entry.Crc32)
                throw new InvalidModelFileException(null, entry.FullName, "CRC-32 mismatch: the entry's content differs from what was saved; the file is damaged.");
        }
    }
}

/// <summary>CRC-32 (IEEE 802.3, the zip checksum), table driven.</summary>
internal static class Crc32
{
    public const uint Initial = 0xFFFFFFFFu;
    private static readonly uint[] Table = Build();

    private static uint[] Build()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    public static uint Final(uint crc) => crc ^ 0xFFFFFFFFu;

    public static uint Compute(ReadOnlySpan<byte> data) => Final(Update(Initial, data));
}
