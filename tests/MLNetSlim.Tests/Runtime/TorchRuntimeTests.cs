using System.Text;
using MLNetSlim.Runtime;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Runtime;

[TestClass]
public class TorchRuntimeTests
{
    [TestMethod]
    public void Torch_InitialisesAndRunsAConvolution()
    {
        TorchRuntime.EnsureInitialized();
        using Tensor x = ones(1, 1, 3, 3);
        using Tensor w = ones(1, 1, 3, 3);
        using Tensor y = nn.functional.conv2d(x, w, padding: new long[] { 1, 1 });
        // Centre sees all nine ones; a corner sees four.
        Assert.AreEqual(9f, y[0, 0, 1, 1].item<float>());
        Assert.AreEqual(4f, y[0, 0, 0, 0].item<float>());
    }

    [TestMethod]
    public void ConvolutionGradients_AreFinite_OverManyBackwardPasses()
    {
        // Guards the oneDNN AVX-512 fault (docs/runtime.md): without TorchRuntime's ISA limit, about a quarter of these
        // backward passes returned NaN/Inf on the AMD machines this project is built on.
        TorchRuntime.EnsureInitialized();
        manual_seed(0);
        int bad = 0;
        for (int i = 0; i < 60; i++)
        {
            using var scope = NewDisposeScope();
            Tensor x = randn(64, 8, 28, 28).requires_grad_(true);
            Tensor w = randn(8, 8, 3, 3).requires_grad_(true);
            nn.functional.conv2d(x, w, padding: new long[] { 1, 1 }).sum().backward();
            if (!x.grad!.isfinite().all().item<bool>() || !w.grad!.isfinite().all().item<bool>()) bad++;
        }
        Assert.AreEqual(0, bad, $"non-finite gradients in {bad} of 60 backward passes (oneDNN ISA limit applied: {TorchRuntime.AppliedOneDnnIsaLimit ?? "none"})");
    }

    [TestMethod]
    public void MallocIsTunedOnGlibcLinux_WhenTrainingStarts_UnlessTheUserTunedIt()
    {
        // docs/runtime.md: without it, a sandwich training step page-faults its activations back in and runs ~35 % slower.
        TorchRuntime.PrepareForTraining();
        if (!OperatingSystem.IsLinux()) { Assert.IsFalse(TorchRuntime.AppliedMallocTuning); return; }
        bool glibc = File.ReadLines("/proc/self/maps").Any(l => l.Contains("/libc.so.6", StringComparison.Ordinal));
        Assert.AreEqual(glibc && TorchRuntime.MallocTuningWanted(), TorchRuntime.AppliedMallocTuning);
    }

    [TestMethod]
    public void LibTorchSharpInBuildOutput_IsPatchedExactlyWhenTheSystemLibStdCxxNeedsIt_AndTheNuGetCacheIsNot()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("The libstdc++ fix applies to Linux only.");
        string output = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.IsTrue(File.Exists(output), $"expected TorchSharp's native library at {output}");
        string libstdcxx = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).Last())
            .First(p => Path.GetFileName(p).StartsWith("libstdc++.so", StringComparison.Ordinal));
        bool systemHasIt = Contains(File.ReadAllBytes(libstdcxx), "GLIBCXX_3.4.32\0");
        ushort? flags = VersionNeedFlags(File.ReadAllBytes(output), "GLIBCXX_3.4.32");
        Assert.IsNotNull(flags, "TorchSharp 0.107's library is expected to declare GLIBCXX_3.4.32");
        Assert.AreEqual(!systemHasIt, (flags & 0x2) != 0, $"weak flag in the build output copy; system libstdc++ {libstdcxx} has 3.4.32: {systemHasIt}");

        string cache = Path.Combine(Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"),
            "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (File.Exists(cache))
            Assert.AreEqual(0, VersionNeedFlags(File.ReadAllBytes(cache), "GLIBCXX_3.4.32")! & 0x2, "the NuGet cache copy must stay untouched");
    }

    private static bool Contains(byte[] haystack, string needle) => haystack.AsSpan().IndexOf(Encoding.ASCII.GetBytes(needle)) >= 0;

    // Reads vna_flags of a version need (SHT_GNU_verneed) in an ELF64 little-endian file; null when absent.
    private static ushort? VersionNeedFlags(byte[] elf, string version)
    {
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            int sh = (int)(shoff + s * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != 0x6ffffffe) continue;
            int offset = (int)BitConverter.ToInt64(elf, sh + 0x18);
            int strtab = (int)BitConverter.ToInt64(elf, (int)(shoff + BitConverter.ToUInt32(elf, sh + 0x28) * shentsize) + 0x18);
            int count = (int)BitConverter.ToUInt32(elf, sh + 0x2C);
            for (int i = 0, vn = offset; i < count; i++, vn += (int)BitConverter.ToUInt32(elf, vn + 12))
                for (int a = 0, aux = vn + (int)BitConverter.ToUInt32(elf, vn + 8); a < BitConverter.ToUInt16(elf, vn + 2); a++, aux += (int)BitConverter.ToUInt32(elf, aux + 12))
                {
                    int name = strtab + (int)BitConverter.ToUInt32(elf, aux + 8);
                    if (Encoding.ASCII.GetString(elf, name, Array.IndexOf(elf, (byte)0, name) - name) == version)
                        return BitConverter.ToUInt16(elf, aux + 4);
                }
        }
        return null;
    }

    [TestMethod]
    public void Device_ParsesAndNamesTheChoices()
    {
        Assert.AreEqual("cuda:1", TorchDevice.Parse(" CUDA:1 "));
        Assert.AreEqual("cpu", TorchDevice.Parse("cpu"));
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => TorchDevice.Parse("gpu")).Message, "\"cuda:N\"");
        if (!cuda.is_available())
            StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => TorchDevice.Resolve("cuda")).Message, "TorchBackend=cuda");
    }
}
