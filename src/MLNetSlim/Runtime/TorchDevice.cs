using static TorchSharp.torch;

namespace MLNetSlim.Runtime;

/// <summary>
/// Device selection: "cpu", "cuda" or "cuda:N". The CUDA backend needs the application to reference a TorchSharp CUDA
/// package (build with -p:TorchBackend=cuda, see docs/runtime.md).
/// </summary>
internal static class TorchDevice
{
    /// <summary>Parses and checks a device string.</summary>
    /// <exception cref="ArgumentException">Not "cpu", "cuda" or "cuda:N".</exception>
    public static string Parse(string device)
    {
        string d = (device ?? "").Trim().ToLowerInvariant();
        if (d == "cpu" || d == "cuda") return d;
        if (d.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(d[5..], out int n) && n >= 0) return d;
        throw new ArgumentException($"Device '{device}' is not valid; expected \"cpu\", \"cuda\" or \"cuda:N\".", nameof(device));
    }

    /// <summary>The torch device for <paramref name="device"/>.</summary>
    /// <exception cref="ArgumentException">Invalid string, or CUDA asked for but not available (names the build switch).</exception>
    public static Device Resolve(string device)
    {
        string d = Parse(device);
        if (d.StartsWith("cuda", StringComparison.Ordinal) && !cuda.is_available())
            throw new ArgumentException(
                $"Device '{device}' was requested but CUDA is not available: build the application with -p:TorchBackend=cuda " +
                "(references the TorchSharp CUDA package) on a machine with an NVIDIA driver, or use \"cpu\".", nameof(device));
        return new Device(d);
    }
}
