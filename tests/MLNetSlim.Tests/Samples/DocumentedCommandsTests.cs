using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace MLNetSlim.Tests.Samples;

/// <summary>
/// Every command in README.md and samples/**/README.md, run exactly as written from the repository root (issue 16):
/// the samples' four steps (prepare data, train, predict, serve + curl) and serving the demo's kind of model. Each
/// documented command is either run here, checking its exit code and output, or listed in <see cref="NotRun"/> with the
/// reason; a new documented command fails this test until it is one or the other. Synopsis lines with [optional]
/// parts are not commands. Two deviations keep it short, both in the documentation too: after the data step only the
/// first 300 rows of data/labels.tsv are kept (the documented training command then trains a small model), and
/// out/model.zip, when absent, is the shared small Features model (SampleModels). The `dotnet run -c Release` commands
/// build incrementally: the test run has just built every sample in Release, so each costs an up-to-date check.
/// </summary>
[TestClass]
public sealed partial class DocumentedCommandsTests
{
    private const string Prepare = "dotnet run --project samples/MLNetSlim.Samples.Train -c Release -- --prepare-sample-data data --count 2000";
    private const string Train = "dotnet run --project samples/MLNetSlim.Samples.Train -c Release -- --images data --labels data/labels.tsv --out model.zip --epochs 3";
    private const string TrainShort = "dotnet run --project samples/MLNetSlim.Samples.Train -c Release -- --images data --labels data/labels.tsv --out model.zip";
    private const string Consume = "dotnet run --project samples/MLNetSlim.Samples.Consume -c Release -- --model model.zip --image data/images/00002.png --budget 0.5 --weights digit=0.8,fashion=0.2";
    private const string ConsumeDemoModel = "dotnet run --project samples/MLNetSlim.Samples.Consume -c Release -- --model out/model.zip --image data/images/00002.png";
    private const string Serve = "dotnet run --project samples/MLNetSlim.Samples.WebApi -c Release -- --model model.zip --urls http://127.0.0.1:5080";
    private const string Curl = "curl -X POST \"http://127.0.0.1:5080/predict?budget=0.5&weights=digit:0.8,fashion:0.2\" -H \"Content-Type: image/png\" --data-binary @data/images/00002.png";

    /// <summary>Documented commands this test does not run, and why.</summary>
    private static readonly Dictionary<string, string> NotRun = new()
    {
        ["dotnet run --project samples/MLNetSlim.Demo -c Release"] = "the main job: about 10 minutes of training; docs/results.md records its run",
        ["dotnet run --project samples/MLNetSlim.Demo -c Release -- evaluate --model out/model.zip"] = "evaluates the 10,000 test images at many configurations: minutes",
        ["dotnet run --project samples/MLNetSlim.Demo -c Release -- --train-count 3000 --test-count 1000 --epochs 1 --out /tmp/demo-out"] = "a smoke run of the main job: minutes",
        ["dotnet run --project samples/MLNetSlim.Demo -c Release -- --benchmark scenes --out out/scenes"] = "the dense benchmark: two trainings (CI-KD ablation), about 25 minutes on an idle 2-core machine; docs/results.md records its run, PerPixelTests cover the same path on small data",
        ["dotnet test MLNetSlim.sln -c Release"] = "the test suite this test belongs to",
        ["dotnet pack MLNetSlim.sln -c Release -o ./packages"] = "README's Install section: Packaging/PackageConsumerTests packs the packages into a folder feed the same way",
        ["dotnet nuget add source ./packages -n mlnetslim-local"] = "README's Install section, for a user's machine (changes the user's NuGet configuration); PackageConsumerTests uses a folder feed",
        ["dotnet add package MLNetSlim"] = "README's Install section, for a user's project: Packaging/PackageConsumerTests builds a fresh console app referencing these packages from a local feed",
        ["dotnet add package Microsoft.ML.OnnxRuntime --version 1.31.1 # inference through ONNX Runtime (the default path)"] = "as above (PackageConsumerTests)",
        ["dotnet add package libtorch-cpu-linux-x64 --version 2.10.0"] = "as above (PackageConsumerTests)",
        ["dotnet add package Microsoft.ML.ImageAnalytics --version 5.0.1"] = "as above (PackageConsumerTests)",
    };

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task EveryDocumentedCommand_RunsAsWritten_OrIsListedWithAReason()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) Assert.Inconclusive("The documented commands are bash command lines.");
        string root = SampleProcess.RepositoryRoot();
        string[] documented = DocumentedCommands(root).Distinct().ToArray();
        string[] runHere = [Prepare, Train, TrainShort, Consume, ConsumeDemoModel, Serve, Curl];
        string[] unknown = documented.Where(c => !runHere.Contains(c) && !NotRun.ContainsKey(c)).ToArray();
        Assert.IsEmpty(unknown, "Documented commands this test neither runs nor lists in NotRun:\n" + string.Join("\n", unknown));
        foreach (string command in new[] { Prepare, Train, Consume, Serve, Curl })
            CollectionAssert.Contains(documented, command, "The docs no longer show this command; update the test with them.");

        string data = Path.Combine(root, "data"), model = Path.Combine(root, "model.zip"), demoModel = Path.Combine(root, "out", "model.zip");
        string marker = Path.Combine(data, ".made-by-DocumentedCommandsTests");
        if ((Directory.Exists(data) && !File.Exists(marker)) || (File.Exists(model) && !File.Exists(marker)))
            Assert.Inconclusive($"{root} already has data/ or model.zip of its own; this test runs the documented commands there, so it runs only in a clone without them.");
        using (TcpListener probe = new(IPAddress.Loopback, 5080))
        {
            try { probe.Start(); } catch (SocketException) { Assert.Inconclusive("Port 5080, which the documented commands use, is busy."); }
        }

        bool madeDemoModel = false, madeOut = false;
        Process? server = null;
        var serverLog = new StringBuilder();
        try
        {
            // 1. Data (as written), then keep 300 rows so that step 2 trains a small model.
            Directory.CreateDirectory(data);
            File.WriteAllText(marker, "");
            ProcessResult prepared = await Run(Prepare, root, TimeSpan.FromMinutes(5));
            Assert.AreEqual(0, prepared.ExitCode, prepared.ToString());
            StringAssert.Contains(prepared.Output, "Wrote 2000 images", prepared.ToString());
            string labels = Path.Combine(data, "labels.tsv");
            Assert.HasCount(2001, File.ReadAllLines(labels));
            File.WriteAllLines(labels, File.ReadAllLines(labels).Take(301));

            // 2. Train: progress lines, per-task accuracy, the saved zip.
            ProcessResult trained = await Run(Train, root, TimeSpan.FromMinutes(8));
            Assert.AreEqual(0, trained.ExitCode, trained.ToString());
            StringAssert.Matches(trained.Output, StepLine(), trained.ToString());
            StringAssert.Matches(trained.Output, new Regex(@"digit\s+accuracy \d+(\.\d)?\s?%"), trained.ToString());
            StringAssert.Contains(trained.Output, "Saved " + model, trained.ToString());

            // 3. Predict, and the demo's kind of model (out/model.zip) through the same sample.
            ProcessResult consumed = await Run(Consume, root, TimeSpan.FromMinutes(3));
            Assert.AreEqual(0, consumed.ExitCode, consumed.ToString());
            StringAssert.Contains(consumed.Output, "Budget:        50% of full MACs", consumed.ToString());
            StringAssert.Matches(consumed.Output, new Regex(@"Configuration: enc=\S+ dec=\S+"), consumed.ToString());
            StringAssert.Matches(consumed.Output, new Regex(@"fashion\s+-> \S"), consumed.ToString());
            if (!File.Exists(demoModel))
            {
                madeOut = !Directory.Exists(Path.GetDirectoryName(demoModel));
                Directory.CreateDirectory(Path.GetDirectoryName(demoModel)!);
                File.Copy((await SampleModels.GetAsync()).FeaturesModel, demoModel);
                madeDemoModel = true;
            }
            ProcessResult demo = await Run(ConsumeDemoModel, root, TimeSpan.FromMinutes(3));
            Assert.AreEqual(0, demo.ExitCode, demo.ToString());
            StringAssert.Matches(demo.Output, new Regex(@"digit\s+-> \d"), demo.ToString());

            // 4. Serve with a relative --model under `dotnet run` (the project's folder is not the current one), then curl.
            ProcessStartInfo psi = SampleProcess.Shell(Serve, root);
            psi.RedirectStandardOutput = psi.RedirectStandardError = true;
            psi.UseShellExecute = false;
            server = Process.Start(psi)!;
            server.OutputDataReceived += (_, e) => { lock (serverLog) serverLog.AppendLine(e.Data); };
            server.ErrorDataReceived += (_, e) => { lock (serverLog) serverLog.AppendLine(e.Data); };
            server.BeginOutputReadLine();
            server.BeginErrorReadLine();
            await WaitForHealth(server, serverLog, TimeSpan.FromMinutes(3));
            ProcessResult asked = await Run(Curl, root, TimeSpan.FromMinutes(1));
            Assert.AreEqual(0, asked.ExitCode, asked.ToString());
            StringAssert.Contains(asked.Output, "\"configuration\":\"enc=", asked.ToString());
            StringAssert.Contains(asked.Output, "\"digit\":{\"label\":", asked.ToString());
        }
        finally
        {
            if (server is not null)
            {
                try
                {
                    if (!server.HasExited) server.Kill(entireProcessTree: true);
                    server.WaitForExit(10_000);
                }
                catch (InvalidOperationException) { }
                server.Dispose();
            }
            if (File.Exists(marker))
            {
                Directory.Delete(data, recursive: true);
                File.Delete(model);
                File.Delete(model + ".tmp");
            }
            if (madeDemoModel) File.Delete(demoModel);
            if (madeOut) Directory.Delete(Path.GetDirectoryName(demoModel)!);
        }
    }

    /// <summary>The commands of README.md and samples/**/README.md: lines of sh/bash blocks (continuation lines joined)
    /// and inline code starting with "dotnet run"/"dotnet test"; whitespace collapsed; synopsis lines left out.</summary>
    private static IEnumerable<string> DocumentedCommands(string root)
    {
        IEnumerable<string> files = new[] { Path.Combine(root, "README.md") }
            .Concat(Directory.EnumerateFiles(Path.Combine(root, "samples"), "*.md", SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                            && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)));
        foreach (string file in files)
        {
            string text = File.ReadAllText(file);
            var commands = new List<string>();
            foreach (Match block in FencedShell().Matches(text))
            {
                string joined = block.Groups[1].Value.Replace("\\\r\n", " ", StringComparison.Ordinal).Replace("\\\n", " ", StringComparison.Ordinal);
                commands.AddRange(joined.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("dotnet ", StringComparison.Ordinal) || l.StartsWith("curl ", StringComparison.Ordinal)));
            }
            commands.AddRange(InlineDotnet().Matches(text).Select(m => m.Groups[1].Value));
            foreach (string command in commands)
            {
                string normal = Spaces().Replace(command, " ").Trim();
                if (!normal.Contains(" [", StringComparison.Ordinal)) yield return normal;
            }
        }
    }

    private static async Task<ProcessResult> Run(string command, string root, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        ProcessResult result = await SampleProcess.RunShellAsync(command, root, timeout);
        Console.WriteLine($"{watch.Elapsed.TotalSeconds,6:0.0} s  exit {result.ExitCode}  {command}"); // per-command time, in the test log
        return result;
    }

    private async Task WaitForHealth(Process server, StringBuilder log, TimeSpan limit)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < limit)
        {
            if (server.HasExited) Assert.Fail($"The WebApi exited with code {server.ExitCode}:\n{Text(log)}");
            try
            {
                using HttpResponseMessage health = await http.GetAsync("http://127.0.0.1:5080/health", TestContext.CancellationToken);
                if (health.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!TestContext.CancellationToken.IsCancellationRequested) { }
            await Task.Delay(500, TestContext.CancellationToken);
        }
        Assert.Fail($"The WebApi did not answer /health within {limit.TotalSeconds} s:\n{Text(log)}");
    }

    private static string Text(StringBuilder log)
    {
        lock (log) return log.ToString();
    }

    [GeneratedRegex(@"```(?:sh|bash|shell)\r?\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex FencedShell();

    [GeneratedRegex(@"`(dotnet (?:run|test) [^`]*)`")]
    private static partial Regex InlineDotnet();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    [GeneratedRegex(@"epoch 1/3 step \d+/\d+")]
    private static partial Regex StepLine();
}
