using System.Buffers.Binary;

namespace MLNetSlim.Tests.Integrity;

/// <summary>Byte ranges of a zip file: each entry's local header + data, the central directory, the end record.</summary>
internal static class ZipLayout
{
    public sealed record Region(string Name, int Start, int End);

    public static List<Region> Regions(byte[] zip)
    {
        int eocd = -1;
        for (int i = zip.Length - 22; i >= 0; i--)
            if (BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(i)) == 0x06054b50) { eocd = i; break; }
        if (eocd < 0) throw new InvalidOperationException("no end of central directory");
        int count = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(eocd + 10));
        int cdOffset = (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(eocd + 16));
        var entries = new List<(string Name, int Offset)>();
        int p = cdOffset;
        for (int e = 0; e < count; e++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(p)) != 0x02014b50) throw new InvalidOperationException("bad central header");
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(p + 28));
            int extra = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(p + 30));
            int comment = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(p + 32));
            int local = (int)BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(p + 42));
            entries.Add((System.Text.Encoding.UTF8.GetString(zip, p + 46, nameLength), local));
            p += 46 + nameLength + extra + comment;
        }
        entries.Sort((a, b) => a.Offset.CompareTo(b.Offset));
        var regions = new List<Region>();
        for (int e = 0; e < entries.Count; e++)
            regions.Add(new Region(entries[e].Name, entries[e].Offset, e + 1 < entries.Count ? entries[e + 1].Offset : cdOffset));
        regions.Add(new Region("(central directory)", cdOffset, eocd));
        regions.Add(new Region("(end of central directory)", eocd, zip.Length));
        return regions;
    }
}
