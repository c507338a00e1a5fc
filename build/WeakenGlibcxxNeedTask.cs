// Compiled by MSBuild's RoslynCodeTaskFactory from build/MLNetSlim.targets; not part of any assembly of the project.
// Marks the GLIBCXX_3.4.32 version need of an ELF64 shared library as weak (VER_FLG_WEAK) when the host's libstdc++
// does not define that version. Writes to a temporary file, then moves it over the original (never in place, so a
// hard link into the NuGet cache is never modified).
#nullable enable
using System;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public sealed class MLNetSlimWeakenGlibcxxNeed : Task
{
    private const string Needed = "GLIBCXX_3.4.32";
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        string? libstdcxx = FindLoadedLibStdCxx();
        if (libstdcxx == null)
        {
            Log.LogMessage(MessageImportance.Low, "MLNetSlim: libstdc++ is not mapped in this process; nothing to patch.");
            return true;
        }
        if (ContainsAscii(File.ReadAllBytes(libstdcxx), Needed + "\0"))
        {
            Log.LogMessage(MessageImportance.Low, $"MLNetSlim: {libstdcxx} defines {Needed}; no patch needed.");
            return true;
        }
        foreach (ITaskItem item in Files)
        {
            string path = item.GetMetadata("FullPath");
            try
            {
                byte[] elf = File.ReadAllBytes(path);
                int changed = WeakenNeed(elf, Needed);
                if (changed < 0) { Log.LogMessage(MessageImportance.Low, $"MLNetSlim: {path} already patched."); continue; }
                if (changed == 0) { Log.LogMessage(MessageImportance.Low, $"MLNetSlim: {path} does not need {Needed}."); continue; }
                string tmp = path + ".mlnetslim-tmp";
                File.WriteAllBytes(tmp, elf);
                File.Delete(path); // unlinks only this copy, even if it is a hard link into the NuGet cache
                File.Move(tmp, path);
                Log.LogMessage(MessageImportance.High,
                    $"MLNetSlim: marked {Needed} as a weak version need in {path} (system libstdc++ {libstdcxx} lacks it; see docs/runtime.md).");
            }
            catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
            {
                Log.LogWarning($"MLNetSlim: could not patch {path}: {e.Message}. TorchSharp may fail with 'GLIBCXX_3.4.32 not found'.");
            }
        }
        return !Log.HasLoggedErrors;
    }

    private static string? FindLoadedLibStdCxx()
    {
        const string maps = "/proc/self/maps";
        if (!File.Exists(maps)) return null;
        return File.ReadLines(maps)
            .Select(l => l.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries).LastOrDefault())
            .FirstOrDefault(p => p != null && p.StartsWith("/") && Path.GetFileName(p).StartsWith("libstdc++.so"));
    }

    private static bool ContainsAscii(byte[] haystack, string needle)
    {
        byte[] n = Encoding.ASCII.GetBytes(needle);
        for (int i = 0; i + n.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < n.Length && haystack[i + j] == n[j]) j++;
            if (j == n.Length) return true;
        }
        return false;
    }

    /// <returns>1 if a need was weakened, -1 if it was already weak, 0 if the file does not need that version.</returns>
    private static int WeakenNeed(byte[] elf, string version)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F' || elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian ELF64 file");
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        int result = 0;
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = BitConverter.ToInt64(elf, (int)sh + 0x18);
            int link = (int)BitConverter.ToUInt32(elf, (int)sh + 0x28);
            int count = (int)BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strtab = BitConverter.ToInt64(elf, (int)(shoff + (long)link * shentsize) + 0x18);
            long vn = offset;
            for (int i = 0; i < count; i++)
            {
                int auxCount = BitConverter.ToUInt16(elf, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    long name = strtab + BitConverter.ToUInt32(elf, (int)aux + 8);
                    int end = Array.IndexOf(elf, (byte)0, (int)name);
                    if (Encoding.ASCII.GetString(elf, (int)name, end - (int)name) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        if ((flags & VerFlgWeak) != 0) { result = result == 0 ? -1 : result; }
                        else
                        {
                            flags |= VerFlgWeak;
                            elf[aux + 4] = (byte)(flags & 0xff);
                            elf[aux + 5] = (byte)(flags >> 8);
                            result = 1;
                        }
                    }
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                vn += BitConverter.ToUInt32(elf, (int)vn + 12);
            }
        }
        return result;
    }
}
