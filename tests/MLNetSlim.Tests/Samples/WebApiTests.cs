using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Datasets;
using MLNetSlim.Model;
using MLNetSlim.Training;

namespace MLNetSlim.Tests.Samples;

/// <summary>
/// End-to-end test of samples/MLNetSlim.Samples.WebApi: trains a tiny real model, saves it as the Train sample does
/// (image in, label text out), starts the built WebApi as a separate process and posts one image at two budgets.
/// </summary>
[TestClass]
public sealed class WebApiTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task WebApi_PredictsEveryTask_AndASmallerBudgetUsesFewerMacs()
    {
        // A tiny real model: 400 Multi-(Fashion+MNIST) training images, one epoch.
        LabeledImages mnist = await TestData.MnistAsync(DataSplit.Train);
        LabeledImages fashion = await TestData.FashionMnistAsync(DataSplit.Train);
        MultiTaskDataset data = MultiFashionMnist.Create(mnist, fashion, count: 400, seed: 3);
        using ControllableMultiTaskModel network = ModelTrainer.Train(data, null,
            new ModelOptions { ValidationFraction = 0.25, Training = { Epochs = 1, BatchSize = 32, Seed = 1, PostStatisticsImages = 256 } });

        string dir = TestData.NewTempFolder();
        Process? server = null;
        var log = new StringBuilder();
        try
        {
            string png = Path.Combine(dir, "sample.png");
            WritePng(data, 0, png);
            string zip = Path.Combine(dir, "model.zip");
            SaveAsTheTrainSampleDoes(network, png, zip);

            int port = FreePort();
            string webApi = typeof(WebApiTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .Single(a => a.Key == "MLNetSlim.WebApiPath").Value!;
            Assert.IsTrue(File.Exists(webApi), $"WebApi sample not built at {webApi}");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { webApi, "--urls", $"http://127.0.0.1:{port}", "--model", zip, "--Model:PoolSize", "1" })
                psi.ArgumentList.Add(a);
            server = Process.Start(psi)!;
            server.OutputDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
            server.ErrorDataReceived += (_, e) => { lock (log) log.AppendLine(e.Data); };
            server.BeginOutputReadLine();
            server.BeginErrorReadLine();

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
            await WaitForHealth(http, server, log, TimeSpan.FromSeconds(120));

            JsonElement full = await Predict(http, png, "1", log);
            JsonElement small = await Predict(http, png, "0.3", log);

            long fullMacs = full.GetProperty("fullMacs").GetInt64();
            Assert.AreEqual(fullMacs, full.GetProperty("macs").GetInt64(), "Budget 1 runs the whole network.");
            long smallMacs = small.GetProperty("macs").GetInt64();
            Assert.IsLessThan(full.GetProperty("macs").GetInt64(), smallMacs, "The smaller budget must use fewer MACs.");
            Assert.IsLessThanOrEqualTo(0.3 * fullMacs, (double)smallMacs, "The configuration must fit the budget.");
            Assert.AreNotEqual(full.GetProperty("configuration").GetString(), small.GetProperty("configuration").GetString());
            foreach (JsonElement response in new[] { full, small })
            {
                JsonElement tasks = response.GetProperty("tasks");
                CollectionAssert.Contains(Mnist.ClassNames.ToArray(), tasks.GetProperty("digit").GetProperty("label").GetString());
                CollectionAssert.Contains(FashionMnist.ClassNames.ToArray(), tasks.GetProperty("fashion").GetProperty("label").GetString());
                Assert.AreEqual(10, tasks.GetProperty("fashion").GetProperty("scores").EnumerateObject().Count());
                Assert.AreEqual(1.0, tasks.GetProperty("digit").GetProperty("scores").EnumerateObject().Sum(p => p.Value.GetDouble()), 1e-4);
            }
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
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The Train sample's saved pipeline (image -> 28x28 grey pixels in [0, 1] -> network -> label text), built
    /// around an already trained network.</summary>
    private static void SaveAsTheTrainSampleDoes(ControllableMultiTaskModel network, string png, string zip)
    {
        var ml = new MLContext(seed: 1);
        IDataView paths = ml.Data.LoadFromEnumerable(new[] { new ImageRow { ImagePath = png } });
        IDataView images = ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: nameof(ImageRow.ImagePath)).Fit(paths).Transform(paths);
        var pipeline = ml.Transforms.ResizeImages("Image", 28, 28, inputColumnName: "Image")
            .Append(ml.Transforms.ConvertToGrayscale("Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red,
                interleavePixelColors: false, scaleImage: 1 / 255f))
            .Append(ml.Transforms.ApplyControllableMultiTaskModel(network))
            .Append(ml.Transforms.Conversion.MapKeyToValue(network.Tasks
                .Select(t => new InputOutputColumnPair(ControllableMultiTaskTransformer.PredictedLabelColumnName(t.Name))).ToArray()));
        ml.Model.Save(pipeline.Fit(images), images.Schema, zip);
    }

    private static void WritePng(MultiTaskDataset data, int index, string path)
    {
        var rgba = new byte[data.ImageSize * 4];
        for (int p = 0; p < data.ImageSize; p++)
        {
            byte grey = (byte)Math.Round(Math.Clamp(data.Images[index * data.ImageSize + p], 0f, 1f) * 255f);
            rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = grey;
            rgba[4 * p + 3] = 255;
        }
        using MLImage image = MLImage.CreateFromPixels(data.Width, data.Height, MLPixelFormat.Rgba32, rgba);
        image.Save(path);
    }

    private async Task WaitForHealth(HttpClient http, Process server, StringBuilder log, TimeSpan limit)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < limit)
        {
            if (server.HasExited) Assert.Fail($"The WebApi exited with code {server.ExitCode}:\n{Text(log)}");
            try
            {
                using HttpResponseMessage health = await http.GetAsync("/health", TestContext.CancellationToken);
                if (health.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(250, TestContext.CancellationToken);
        }
        Assert.Fail($"The WebApi did not answer /health within {limit.TotalSeconds} s:\n{Text(log)}");
    }

    private async Task<JsonElement> Predict(HttpClient http, string png, string budget, StringBuilder log)
    {
        using var body = new ByteArrayContent(await File.ReadAllBytesAsync(png, TestContext.CancellationToken));
        body.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        using HttpResponseMessage response = await http.PostAsync(
            $"/predict?budget={Uri.EscapeDataString(budget)}&weights=digit:0.5,fashion:0.5", body, TestContext.CancellationToken);
        string json = await response.Content.ReadAsStringAsync(TestContext.CancellationToken);
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, $"{json}\n{Text(log)}");
        using JsonDocument doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static string Text(StringBuilder log)
    {
        lock (log) return log.ToString();
    }

    private sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";
    }
}
