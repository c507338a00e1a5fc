using System.Runtime.InteropServices;

namespace MLNetSlim.Model;

/// <summary>
/// Crash-safe file replacement: the content goes to a temporary file in the target's folder
/// (<c>&lt;name&gt;.tmp-&lt;32 hex digits&gt;</c>), is flushed to the disk (fsync), and is then moved over the target
/// in one atomic rename, after which the folder itself is synced (Linux/macOS). At every moment the target is either
/// the complete old file or the complete new one. The temporary file is removed on failure, and temporary files left
/// by saves that were killed are removed by the next save to the same path. Two processes must not save to the same
/// path at the same time.
/// </summary>
internal static class AtomicFile
{
    private const string TempMarker = ".tmp-";

    /// <summary>Writes <paramref name="path"/> atomically with what <paramref name="write"/> puts in the stream.</summary>
    /// <returns>The number of bytes written.</returns>
    public static long Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no folder.", nameof(path));
        if (Directory.Exists(full)) throw new ArgumentException($"'{path}' is a folder, not a file.", nameof(path));
        Directory.CreateDirectory(dir);
        RemoveStaleTemporaries(full);
        string temp = full + TempMarker + Guid.NewGuid().ToString("N");
        try
        {
            long length;
            using (var f = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(f);
                f.Flush(flushToDisk: true);
                length = f.Length;
            }
            File.Move(temp, full, overwrite: true);
            SyncDirectory(dir);
            return length;
        }
        finally
        {
            try
            {
                if (File.Exists(temp)) File.Delete(temp);
            }
            catch (IOException)
            {
                // Best effort: the next save removes it.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>Temporary files of earlier saves to <paramref name="fullPath"/> that were interrupted.</summary>
    public static IEnumerable<string> Temporaries(string fullPath)
    {
        string dir = Path.GetDirectoryName(fullPath)!;
        string prefix = Path.GetFileName(fullPath) + TempMarker;
        if (!Directory.Exists(dir)) return Array.Empty<string>();
        return Directory.EnumerateFiles(dir, prefix + "*")
            .Where(f =>
            {
                string rest = Path.GetFileName(f)[prefix.Length..];
                return rest.Length == 32 && rest.All(Uri.IsHexDigit);
            })
            .ToArray();
    }

    private static void RemoveStaleTemporaries(string fullPath)
    {
        foreach (string t in Temporaries(fullPath))
        {
            try
            {
                File.Delete(t);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>fsync of the folder, so the rename itself survives a power loss (POSIX; a no-op on Windows, where
    /// MoveFileEx with write-through is what File.Move uses).</summary>
    private static void SyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd;
        try
        {
            fd = Posix.open(dir, 0 /* O_RDONLY */);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return;
        }
        if (fd < 0) return;
        try
        {
            _ = Posix.fsync(fd);
        }
        finally
        {
            _ = Posix.close(fd);
        }
    }

    private static class Posix
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}
