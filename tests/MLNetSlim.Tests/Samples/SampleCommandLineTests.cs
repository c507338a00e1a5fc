namespace MLNetSlim.Tests.Samples;

/// <summary>
/// The samples' command lines (issue 16): typos and stray arguments are errors with a suggestion, --help works, bad
/// numbers name their option, and every failure is one <c>error:</c> line with exit code 1, never a stack trace. Runs
/// the built samples as child processes (`dotnet &lt;dll&gt;`); the model-free cases fail before any model is read.
/// </summary>
[TestClass]
public sealed class SampleCommandLineTests
{
    private const string Consume = "MLNetSlim.Samples.Consume", Train = "MLNetSlim.Samples.Train", WebApi = "MLNetSlim.Samples.WebApi";

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task TyposStrayArgumentsAndBadNumbers_AreOneLineErrors()
    {
        SampleModels.Files f = await SampleModels.GetAsync();
        string[] model = ["--model", f.ImageModel, "--image", f.Png];

        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, [.. model, "--budgte", "0.5"]),
            "unknown option '--budgte'", "did you mean --budget?");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, [.. model, "--weights", "digit=0.8,", "fashion=0.2"]),
            "unexpected argument 'fashion=0.2'", "without spaces", "digit=0.8,fashion=0.2");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, [.. model, "--budget", "50"]), "--budget", "did you mean 50%?");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, [.. model, "--budget", "half"]), "--budget", "'half'");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, ["--image", f.Png]), "missing option --model");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Train, ["--images", "d", "--labels", "d/l.tsv", "--out", "m.zip", "--epoch", "1"]),
            "unknown option '--epoch'", "did you mean --epochs?");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Train, ["--images", "d", "--labels", "d/l.tsv", "--out", "m.zip", "--epochs", "abc"]),
            "--epochs must be a whole number, got 'abc'");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(WebApi, ["--modle", f.ImageModel]), "unknown option '--modle'", "did you mean --model?");
    }

    [TestMethod]
    public async Task Help_ListsTheOptions()
    {
        foreach ((string sample, string option) in new[] { (Consume, "--weights"), (Train, "--epochs"), (WebApi, "--urls") })
        {
            ProcessResult help = await SampleProcess.RunSampleAsync(sample, ["--help"]);
            Assert.AreEqual(0, help.ExitCode, help.ToString());
            StringAssert.Contains(help.Output, option, help.ToString());
        }
    }

    [TestMethod]
    public async Task BadFiles_AreOneLineErrorsNamingTheFile()
    {
        SampleModels.Files f = await SampleModels.GetAsync();
        string missing = Path.Combine(f.Folder, "missing.zip");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, ["--model", missing, "--image", f.Png]), "missing.zip", "does not exist");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, ["--model", f.Folder, "--image", f.Png]), "is a folder");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, ["--model", f.NotAZip, "--image", f.Png]), "not-a-model.zip", "not a model zip");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, ["--model", f.OtherTasksModel, "--image", f.Png]),
            "the model's tasks are digit, shape", "ModelOutput declares digit, fashion");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, ["--model", f.ImageModel, "--image", f.TruncatedPng]), "truncated.png", "truncated");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, ["--model", f.ImageModel, "--image", f.NotAZip]), "not-a-model.zip", "not an image");

        // The WebApi at start-up: the same one line and exit code 1.
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(WebApi, ["--model", f.OtherTasksModel, "--urls", "http://127.0.0.1:0"]),
            "ModelOutput declares digit, fashion");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(WebApi, ["--model", f.NotAZip, "--urls", "http://127.0.0.1:0"]), "not a model zip");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(WebApi, ["--model", missing, "--urls", "http://127.0.0.1:0"]), "does not exist");
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        ProcessResult inUse = await SampleProcess.RunSampleAsync(WebApi, ["--model", f.ImageModel, "--urls", $"http://127.0.0.1:{port}", "--pool-size", "1"]);
        SampleProcess.AssertOneLineError(inUse with { Output = "" }, $"127.0.0.1:{port}");
        Assert.IsFalse(inUse.Output.Contains("   at ", StringComparison.Ordinal), inUse.ToString());
    }

    [TestMethod]
    public async Task Consume_ReadsBothModelKinds_AndPresentsBudgetsInTheUsersTerms()
    {
        SampleModels.Files f = await SampleModels.GetAsync();
        foreach (string model in new[] { f.ImageModel, f.FeaturesModel })
        {
            ProcessResult ok = await SampleProcess.RunSampleAsync(Consume, ["--model", model, "--image", f.Png, "--budget", "50%", "--weights", "digit=0.8,fashion=0.2"]);
            Assert.AreEqual(0, ok.ExitCode, ok.ToString());
            StringAssert.Contains(ok.Output, "Budget:        50% of full MACs", ok.ToString());
            StringAssert.Contains(ok.Output, "Configuration: enc=", ok.ToString());
            StringAssert.Matches(ok.Output, new System.Text.RegularExpressions.Regex(@"digit\s+-> \d\s"), ok.ToString());
        }
        // The same image gives the same answer from both kinds of zip (same network, same preprocessing).
        ProcessResult image = await SampleProcess.RunSampleAsync(Consume, ["--model", f.ImageModel, "--image", f.Png]);
        ProcessResult features = await SampleProcess.RunSampleAsync(Consume, ["--model", f.FeaturesModel, "--image", f.Png]);
        Assert.AreEqual(image.Output, features.Output);

        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, ["--model", f.ImageModel, "--image", f.Png, "--budget", "0.01"]),
            "smallest feasible budget is", "of full MACs");
        ProcessResult infeasible = await SampleProcess.RunSampleAsync(Consume, ["--model", f.ImageModel, "--image", f.Png, "--budget", "0.01"]);
        StringAssert.DoesNotMatch(infeasible.Error, new System.Text.RegularExpressions.Regex(@"\d\.\d{5,}"), "numbers are rounded for reading");
        SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Consume, ["--model", f.ImageModel, "--image", f.Png, "--weights", "digit=0.8,colour=0.2"]),
            "colour");
    }

    [TestMethod]
    public async Task Train_RowsThatDoNotResolve_TruncatedImages_AndTooFewRows_AreOneLineErrorsBeforeTraining()
    {
        SampleModels.Files f = await SampleModels.GetAsync();
        string dir = TestData.NewTempFolder();
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "images"));
            File.Copy(f.Png, Path.Combine(dir, "images", "ok.png"));
            File.Copy(f.TruncatedPng, Path.Combine(dir, "images", "cut.png"));
            string labels = Path.Combine(dir, "labels.tsv");
            string[] Args() => ["--images", dir, "--labels", labels, "--out", Path.Combine(dir, "model.zip")];

            File.WriteAllLines(labels, ["ImagePath\tdigit\tfashion", "images/ok.png\t7\tBag", "images/nope.png\t1\tBag"]);
            SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Train, Args()), "line 3", "images/nope.png", "not found");

            File.WriteAllLines(labels, ["ImagePath\tdigit\tfashion", "images/ok.png\t7\tBag", "images/cut.png\t1\tBag"]);
            SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Train, Args()), "cut.png", "truncated");

            File.WriteAllLines(labels, ["ImagePath\tdigit\tfashion", .. Enumerable.Repeat("images/ok.png\t7\tBag", 5)]);
            SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Train, Args()), "5 images", "at least 10");

            File.WriteAllLines(labels, ["Path\tdigit", "images/ok.png\t7"]);
            SampleProcess.AssertOneLineError(await SampleProcess.RunSampleAsync(Train, Args()), "header");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
