using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace MLNetSlim.Tests.Packaging;

/// <summary>
/// The packages as a user gets them: packs MLNetSlim and its TorchSharp-free dependencies MLNetSlim.Control and MLNetSlim.Serving (from this build's output) into a local folder
/// feed, creates a fresh console project outside the repository that references them from that feed (plus the libtorch
/// CPU backend, ONNX Runtime's native package and ImageAnalytics), runs README's ML.NET usage snippet on a few image rows (train, save, load, set
/// budget and weights), predicts (through ONNX Runtime, the default path), exports ONNX, and checks that the libstdc++ fix arrived through buildTransitive.
/// Restores offline: the feed holds only MLNetSlim's packages, everything else comes read-only from this machine's
/// NuGet packages folder (a fallback folder), so a fresh package version is never confused with a cached one.
/// </summary>
[TestClass]
public class PackageConsumerTests
{
    public TestContext TestContext { get; set; } = null!;

    private static string Metadata(string key) =>
        typeof(PackageConsumerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void PackedPackages_RunReadmeSnippet_InAFreshConsole_WithTheLibStdCxxFix()
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
            Assert.Inconclusive("The consumer app references libtorch-cpu-linux-x64: linux-x64 only.");
        string root = Metadata("MLNetSlim.RepositoryRoot");
        string configuration = Metadata("MLNetSlim.Configuration");
        string version = $"0.1.0-consumertest.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        string work = Path.Combine(TestData.TempRoot, "mlnetslim-consumer-" + Guid.NewGuid().ToString("N")[..8]);
        string feed = Path.Combine(work, "feed"), app = Path.Combine(work, "app");
        Directory.CreateDirectory(feed);
        Directory.CreateDirectory(app);
        var clock = Stopwatch.StartNew();
        var steps = new List<string>();
        void Step(string name)
        {
            steps.Add($"{name} {clock.Elapsed.TotalSeconds:0.0} s");
            clock.Restart();
        }
        try
        {
            // 1. Pack (no build: the test run already built these projects in this configuration).
            foreach (string project in new[] { "src/MLNetSlim.Control/MLNetSlim.Control.csproj", "src/MLNetSlim.Serving/MLNetSlim.Serving.csproj", "src/MLNetSlim/MLNetSlim.csproj" })
                Run(root, "pack", Path.Combine(root, project), "-c", configuration, "--no-build", "-o", feed, $"-p:PackageVersion={version}");
            Step("pack");
            CheckPackage(Path.Combine(feed, $"MLNetSlim.Control.{version}.nupkg"), "MLNetSlim.Control", expectBuildTransitive: false);
            CheckPackage(Path.Combine(feed, $"MLNetSlim.Serving.{version}.nupkg"), "MLNetSlim.Serving", expectBuildTransitive: false);
            CheckPackage(Path.Combine(feed, $"MLNetSlim.{version}.nupkg"), "MLNetSlim", expectBuildTransitive: true);
            Assert.IsTrue(File.Exists(Path.Combine(feed, $"MLNetSlim.Control.{version}.snupkg")), "symbols package of MLNetSlim.Control");
            Assert.IsTrue(File.Exists(Path.Combine(feed, $"MLNetSlim.{version}.snupkg")), "symbols package of MLNetSlim");

            // 2. A fresh console project outside the repository (no Directory.Build.* of ours applies).
            string cache = GlobalPackagesFolder(root);
            File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <config><add key="globalPackagesFolder" value="{Path.Combine(work, "packages")}" /></config>
                  <packageSources><clear /><add key="local" value="{feed}" /></packageSources>
                  <fallbackPackageFolders><clear /><add key="machine" value="{cache}" /></fallbackPackageFolders>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <Nullable>enable</Nullable>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <NoWarn>$(NoWarn);CS0105;NU1603</NoWarn>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="MLNetSlim" Version="{version}" />
                    <PackageReference Include="Microsoft.ML.OnnxRuntime" Version="{Metadata("MLNetSlim.OnnxRuntimeVersion")}" />
                    <PackageReference Include="libtorch-cpu-linux-x64" Version="{Metadata("MLNetSlim.LibTorchVersion")}" />
                    <PackageReference Include="Microsoft.ML.ImageAnalytics" Version="{Metadata("MLNetSlim.MLNetVersion")}" />
                    <PackageReference Include="SkiaSharp" Version="2.88.9" />
                    <PackageReference Include="SkiaSharp.NativeAssets.Linux.NoDependencies" Version="2.88.9" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "Program.cs"), ConsumerProgram(File.ReadAllText(Path.Combine(root, "README.md"))));
            Run(app, "build", "-c", "Release", "-v:q", "-nologo");
            Step("restore+build");

            // 3. The fix for TorchSharp's GLIBCXX_3.4.32 need came with the package (buildTransitive) ...
            string nugetTargets = File.ReadAllText(Path.Combine(app, "obj", "Consumer.csproj.nuget.g.targets"));
            StringAssert.Matches(nugetTargets, new Regex(@"mlnetslim[/\\][^""]*[/\\]buildTransitive[/\\]MLNetSlim\.targets", RegexOptions.IgnoreCase),
                "MLNetSlim's buildTransitive targets are imported by the consumer");
            string output = Path.Combine(app, "bin", "Release", "net10.0");
            string? lib = Directory.EnumerateFiles(output, "libLibTorchSharp.so", SearchOption.AllDirectories).FirstOrDefault();
            Assert.IsNotNull(lib, "libLibTorchSharp.so in the consumer's output");
            bool? hostLacks = HostLibStdCxxLacksGlibcxx3432();
            if (hostLacks == true)
                Assert.IsTrue(HasWeakGlibcxx3432Need(File.ReadAllBytes(lib)), "the consumer's copy of libLibTorchSharp.so has its GLIBCXX_3.4.32 need marked weak");

            // ... and the README snippet runs: train, save, load, control, predict, export.
            (string stdout, _) = Run(app, "exec", Path.Combine(output, "Consumer.dll"));
            Step("run");
            TestContext.WriteLine(stdout);
            StringAssert.Contains(stdout, "CONSUMER OK");
            TestContext.WriteLine($"host libstdc++ lacks GLIBCXX_3.4.32: {hostLacks?.ToString() ?? "unknown"}; " + string.Join(", ", steps));
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    [TestMethod]
    public void WeakFlagCheck_SeesTheUnpatchedLibraryInThePackagesFolder_AndThePatchedCopyInTheOutput()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("Linux only.");
        string cache = GlobalPackagesFolder(AppContext.BaseDirectory);
        string? original = Directory.EnumerateFiles(Path.Combine(cache, "torchsharp"), "libLibTorchSharp.so", SearchOption.AllDirectories).FirstOrDefault();
        Assert.IsNotNull(original, "TorchSharp's native library in the packages folder");
        Assert.IsFalse(HasWeakGlibcxx3432Need(File.ReadAllBytes(original)), "the package's own copy is never patched");
        string? copy = Directory.EnumerateFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories).FirstOrDefault();
        if (copy is not null && HostLibStdCxxLacksGlibcxx3432() == true)
            Assert.IsTrue(HasWeakGlibcxx3432Need(File.ReadAllBytes(copy)), "the test output's copy is patched by the repository's own targets");
    }

    /// <summary>The consumer's Program.cs: README's "ML.NET usage" snippet between a prelude that writes a small image
    /// folder and an epilogue that predicts and exports.</summary>
    internal static string ConsumerProgram(string readme)
    {
        Match section = Regex.Match(readme, @"^## ML\.NET usage\s*$(?<body>.*?)^## ", RegexOptions.Multiline | RegexOptions.Singleline);
        Assert.IsTrue(section.Success, "README.md has a '## ML.NET usage' section");
        Match code = Regex.Match(section.Groups["body"].Value, @"```csharp\n(?<code>.*?)```", RegexOptions.Singleline);
        Assert.IsTrue(code.Success, "README's ML.NET usage section has a csharp block");
        string[] lines = code.Groups["code"].Value.Split('\n');
        string usings = string.Join("\n", lines.Where(l => l.StartsWith("using ", StringComparison.Ordinal)));
        string body = string.Join("\n", lines.Where(l => !l.StartsWith("using ", StringComparison.Ordinal)));
        return usings + "\n" + """
            using Microsoft.ML;
            using Microsoft.ML.Data;
            // ---- prelude (test): a folder of 160 28x28 grey BMP images (more than one default batch of 128) and a data view of (ImagePath, digit, fashion) ----
            string imageFolder = Path.Combine(AppContext.BaseDirectory, "images");
            Directory.CreateDirectory(imageFolder);
            var rng = new Random(3);
            var rows = new List<ImageRow>();
            for (int i = 0; i < 160; i++)
            {
                string file = $"{i:000}.bmp";
                WriteGreyBmp(Path.Combine(imageFolder, file), 28, 28, (x, y) => (byte)Math.Clamp(40 * (i % 4) + (x + y) * (i % 3) + rng.Next(30), 0, 255));
                rows.Add(new ImageRow { ImagePath = file, digit = (i % 4).ToString(), fashion = (i % 3 == 0 ? "Sneaker" : i % 3 == 1 ? "Bag" : "Coat") });
            }
            IDataView trainData = new MLContext(seed: 1).Data.LoadFromEnumerable(rows);

            // ---- README.md, "ML.NET usage" ----

            """ + body + "\n" + """

            // ---- epilogue (test): predict with the loaded model and export the current configuration to ONNX ----
            IDataView scored = loaded.Transform(trainData);
            string[] predicted = scored.GetColumn<string>("PredictedLabel.digit").ToArray();
            float[][] scores = scored.GetColumn<float[]>("Score.fashion").ToArray();
            if (predicted.Length != rows.Count || scores.Any(s => s.Length != 3 || Math.Abs(s.Sum() - 1) > 1e-4))
                throw new Exception($"unexpected predictions: {predicted.Length} rows");
            Console.WriteLine($"predicted digits: {string.Join(" ", predicted.Take(8))}");
            Console.WriteLine($"inference path: {slim.InferencePath}");
            if (!slim.InferencePath.StartsWith("ONNX Runtime", StringComparison.Ordinal)) throw new Exception("the default path is not ONNX Runtime: " + slim.InferencePath);
            ml.Model.ExportToOnnx(loaded, "model.onnx");
            if (new FileInfo("model.onnx").Length < 1000) throw new Exception("model.onnx is too small");
            Console.WriteLine("CONSUMER OK");

            static void WriteGreyBmp(string path, int width, int height, Func<int, int, byte> pixel)
            {
                int stride = (width * 3 + 3) / 4 * 4, size = 54 + stride * height;
                var b = new byte[size];
                b[0] = (byte)'B'; b[1] = (byte)'M';
                BitConverter.TryWriteBytes(b.AsSpan(2), size);
                BitConverter.TryWriteBytes(b.AsSpan(10), 54);
                BitConverter.TryWriteBytes(b.AsSpan(14), 40);
                BitConverter.TryWriteBytes(b.AsSpan(18), width);
                BitConverter.TryWriteBytes(b.AsSpan(22), height);
                BitConverter.TryWriteBytes(b.AsSpan(26), (short)1);
                BitConverter.TryWriteBytes(b.AsSpan(28), (short)24);
                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++)
                    {
                        byte v = pixel(x, y);
                        int o = 54 + (height - 1 - y) * stride + x * 3;
                        b[o] = b[o + 1] = b[o + 2] = v;
                    }
                File.WriteAllBytes(path, b);
            }

            public sealed class ImageRow
            {
                public string ImagePath { get; set; } = "";
                public string digit { get; set; } = "";
                public string fashion { get; set; } = "";
            }
            """;
    }

    private static void CheckPackage(string nupkg, string id, bool expectBuildTransitive)
    {
        Assert.IsTrue(File.Exists(nupkg), nupkg);
        using ZipArchive zip = ZipFile.OpenRead(nupkg);
        var entries = zip.Entries.Select(e => e.FullName).ToList();
        CollectionAssert.Contains(entries, "README.md", $"{id}: readme");
        CollectionAssert.Contains(entries, $"lib/net10.0/{id}.dll");
        CollectionAssert.Contains(entries, $"lib/net10.0/{id}.xml", $"{id}: XML documentation");
        if (expectBuildTransitive)
        {
            CollectionAssert.Contains(entries, $"buildTransitive/{id}.targets");
            CollectionAssert.Contains(entries, "buildTransitive/WeakenGlibcxxNeedTask.cs");
        }
        using Stream s = zip.GetEntry($"{id}.nuspec")!.Open();
        XElement metadata = XDocument.Load(s).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string? Value(string name) => metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;
        Assert.AreEqual("README.md", Value("readme"), $"{id}: nuspec readme");
        Assert.IsFalse(string.IsNullOrWhiteSpace(Value("description")), $"{id}: description");
        StringAssert.Contains(Value("tags") ?? "", "ML.NET", $"{id}: tags");
        XElement? license = metadata.Elements().FirstOrDefault(e => e.Name.LocalName == "license");
        Assert.AreEqual("MIT", license?.Value, $"{id}: license expression");
        Assert.AreEqual("expression", license?.Attribute("type")?.Value, $"{id}: license type");
        if (id == "MLNetSlim")
        {
            XElement ml = metadata.Descendants().Single(e => e.Name.LocalName == "dependency" && e.Attribute("id")?.Value == "Microsoft.ML");
            Assert.AreEqual("[5.0.1, 5.1.0)", ml.Attribute("version")?.Value, "the Microsoft.ML range the reflection bridge supports");
            Assert.IsTrue(metadata.Descendants().Any(e => e.Name.LocalName == "dependency" && e.Attribute("id")?.Value == "MLNetSlim.Control"),
                "MLNetSlim depends on the MLNetSlim.Control package");
        }
        if (id == "MLNetSlim.Serving")
            Assert.IsFalse(metadata.Descendants().Any(e => e.Name.LocalName == "dependency" && (e.Attribute("id")?.Value ?? "").Contains("Torch", StringComparison.OrdinalIgnoreCase)),
                "MLNetSlim.Serving must not depend on TorchSharp");
        if (id == "MLNetSlim.Control")
            Assert.IsFalse(metadata.Descendants().Any(e => e.Name.LocalName == "dependency"),
                "MLNetSlim.Control has no dependencies (no TorchSharp, no ML.NET)");
    }

    private static string GlobalPackagesFolder(string workingDirectory)
    {
        (string stdout, _) = Run(workingDirectory, "nuget", "locals", "global-packages", "--list");
        Match m = Regex.Match(stdout, @"global-packages:\s*(?<path>.+)");
        Assert.IsTrue(m.Success, stdout);
        return m.Groups["path"].Value.Trim();
    }

    /// <summary>True when the libstdc++ this process loaded lacks GLIBCXX_3.4.32 (so torch needs the fix), null when
    /// none is mapped or it cannot be read.</summary>
    private static bool? HostLibStdCxxLacksGlibcxx3432()
    {
        if (!OperatingSystem.IsLinux()) return null;
        string? path = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(p => p.Length >= 6 && p[^1].Contains("libstdc++", StringComparison.Ordinal)).Select(p => p[^1]).FirstOrDefault();
        if (path is null || !File.Exists(path)) return null;
        return !Contains(File.ReadAllBytes(path), Encoding.ASCII.GetBytes("GLIBCXX_3.4.32\0"));
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    /// <summary>True when the ELF64 library's version-need entry for GLIBCXX_3.4.32 carries VER_FLG_WEAK.</summary>
    internal static bool HasWeakGlibcxx3432Need(byte[] elf)
    {
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            int sh = (int)(shoff + (long)i * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != 0x6ffffffe) continue; // SHT_GNU_verneed
            long offset = BitConverter.ToInt64(elf, sh + 0x18);
            int link = (int)BitConverter.ToUInt32(elf, sh + 0x28);
            long strtab = BitConverter.ToInt64(elf, (int)(shoff + (long)link * shentsize) + 0x18);
            long need = offset;
            while (true)
            {
                int cnt = BitConverter.ToUInt16(elf, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < cnt; a++)
                {
                    int flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                    long name = strtab + BitConverter.ToUInt32(elf, (int)aux + 8);
                    int end = Array.IndexOf(elf, (byte)0, (int)name);
                    if (Encoding.ASCII.GetString(elf, (int)name, end - (int)name) == "GLIBCXX_3.4.32") return (flags & 0x2) != 0;
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                uint next = BitConverter.ToUInt32(elf, (int)need + 12);
                if (next == 0) break;
                need += next;
            }
        }
        return false;
    }

    private static (string Stdout, string Stderr) Run(string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        // The test host's MSBuild variables would point the child build at the test run's SDK context.
        foreach (string v in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "MSBuildLoadMicrosoftTargetsReadOnly" })
            psi.Environment.Remove(v);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(600_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', args)} timed out");
        }
        p.WaitForExit();
        Assert.AreEqual(0, p.ExitCode, $"dotnet {string.Join(' ', args)} in {workingDirectory} failed:\n{stdout.Result}\n{stderr.Result}");
        return (stdout.Result, stderr.Result);
    }
}
