using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MLNetSlim.Runtime;

/// <summary>
/// Process-wide preparation of TorchSharp's native runtime, done once before the first tensor operation.
/// <para>
/// oneDNN (libtorch's CPU convolution library) in libtorch 2.10 picks its AVX-512 kernels on AMD Zen 4/5 processors,
/// and on those machines its convolution backward pass intermittently returns NaN/Inf gradients (measured here on an
/// AMD EPYC with AVX-512: 50 of 200 backward passes of an 8-to-8-channel 3x3 convolution; 0 of 200 with the AVX2
/// kernels). Training then diverges at random. On Linux, on AMD processors with AVX-512, and only when the user has not
/// chosen an ISA, this class sets <c>ONEDNN_MAX_CPU_ISA=AVX2</c> in the native process environment before oneDNN reads
/// it. Set <c>ONEDNN_MAX_CPU_ISA</c> yourself to override. See docs/runtime.md.
/// </para>
/// <para>
/// glibc's allocator returns large freed blocks to the kernel (mmap threshold and heap trimming), so every training step
/// that allocates activations of a new shape page-faults them back in; a slimmable network changes shapes several
/// times per step (sandwich rule). Measured here: 3.6x the minor page faults and 3x the system time of a static network,
/// and steps 35 % slower than with the allocator told to keep its memory. On Linux with glibc, unless the user tuned
/// malloc (any <c>MALLOC_*_</c> variable, <c>GLIBC_TUNABLES</c>, an <c>LD_PRELOAD</c>ed allocator) or set
/// <c>MLNETSLIM_MALLOC_TUNING=0</c>, <see cref="PrepareForTraining"/> (called when training starts, never when the
/// assembly merely loads or a model serves predictions) calls <c>mallopt</c> once: mmap threshold 32 MiB (glibc's maximum),
/// trim threshold 1 GiB, top pad 64 MiB, the in-process equivalent of the allocator settings PyTorch recommends for
/// CPU training. The cost is memory the process keeps instead of returning (bounded by its peak use).
/// </para>
/// </summary>
public static class TorchRuntime
{
    private const string IsaVariable = "ONEDNN_MAX_CPU_ISA";
    private static readonly object Gate = new();
    private static bool _initialized;
    private static bool _trainingPrepared;

    /// <summary>The oneDNN ISA limit this class applied, or null when it changed nothing.</summary>
    public static string? AppliedOneDnnIsaLimit { get; private set; }

    /// <summary>True when this class tuned glibc's allocator with mallopt (see the class remarks).</summary>
    public static bool AppliedMallocTuning { get; private set; }

    /// <summary>
    /// Prepares the native runtime (the oneDNN ISA guard only; no allocator change); idempotent and thread-safe. Called
    /// by every MLNetSlim entry point and when the assembly loads.
    /// </summary>
    public static void EnsureInitialized()
    {
        lock (Gate)
        {
            if (_initialized) return;
            _initialized = true;
            if (NeedsAvx2Limit())
            {
                SetNativeEnvironmentVariable(IsaVariable, "AVX2");
                AppliedOneDnnIsaLimit = "AVX2";
            }
        }
    }

    /// <summary>
    /// Prepares the process for training: <see cref="EnsureInitialized"/>, then the glibc allocator tuning described in
    /// the class remarks (once per process; opt out with <c>MLNETSLIM_MALLOC_TUNING=0</c>). Called when training starts;
    /// a process that only loads models and predicts never changes its allocator. Idempotent and thread-safe.
    /// </summary>
    public static void PrepareForTraining()
    {
        EnsureInitialized();
        lock (Gate)
        {
            if (_trainingPrepared) return;
            _trainingPrepared = true;
            if (MallocTuningWanted()) AppliedMallocTuning = TryTuneMalloc();
        }
    }

    // A library module initializer is deliberate here: the ISA limit must be in place before any code of the process
    // touches oneDNN, and loading this assembly is the earliest point a library can act.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void OnAssemblyLoad() => EnsureInitialized();

    /// <summary>True on Linux x64 AMD processors with AVX-512 when no oneDNN ISA limit is set.</summary>
    internal static bool NeedsAvx2Limit()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != System.Runtime.InteropServices.Architecture.X64) return false;
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(IsaVariable)) ||
            !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DNNL_MAX_CPU_ISA"))) return false;
        try
        {
            string cpuinfo = File.ReadAllText("/proc/cpuinfo");
            return cpuinfo.Contains("AuthenticAMD", StringComparison.Ordinal) && cpuinfo.Contains(" avx512f", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>True on Linux when neither the user nor a preloaded allocator has tuned malloc and tuning is not disabled.</summary>
    internal static bool MallocTuningWanted()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (Environment.GetEnvironmentVariable("MLNETSLIM_MALLOC_TUNING") == "0") return false;
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("LD_PRELOAD"))) return false;
        if ((Environment.GetEnvironmentVariable("GLIBC_TUNABLES") ?? "").Contains("malloc", StringComparison.Ordinal)) return false;
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            if (e.Key is string name && name.StartsWith("MALLOC_", StringComparison.Ordinal) && name.EndsWith('_')) return false;
        return true;
    }

    private static bool TryTuneMalloc()
    {
        const int MTrimThreshold = -1, MTopPad = -2, MMmapThreshold = -3;
        try
        {
            // mallopt returns 1 on success; glibc caps the mmap threshold at 32 MiB on 64-bit systems.
            return mallopt(MMmapThreshold, 32 << 20) == 1
                & mallopt(MTrimThreshold, 1 << 30) == 1
                & mallopt(MTopPad, 64 << 20) == 1;
        }
        catch (EntryPointNotFoundException)
        {
            return false; // not glibc (e.g. musl): nothing to tune
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc")]
    private static extern int mallopt(int param, int value);

    private static void SetNativeEnvironmentVariable(string name, string value)
    {
        // Environment.SetEnvironmentVariable only changes .NET's copy on Unix; oneDNN reads the C library's.
        Environment.SetEnvironmentVariable(name, value);
        if (setenv(name, value, 0) != 0)
            throw new InvalidOperationException($"setenv({name}) failed; set {name}={value} before starting the process.");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setenv(string name, string value, int overwrite);
}
