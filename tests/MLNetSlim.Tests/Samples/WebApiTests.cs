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
        // The shared tiny real model (SampleModels: 400 images, one epoch), saved as the Train sample does.
        SampleModels.Files files = await SampleModels.GetAsync();
        string png = files.Png, zip = files.ImageModel;
        Process? server = null;
        var log = new StringBuilder();
        try
        {
            int port = FreePort();
            string webApi = SampleProcess.SampleDll("MLNetSlim.Samples.WebApi");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (string a in new[] { webApi, "--urls", $"http://127.0.0.1:{port}", "--model", zip, "--pool-size", "1" })
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
            // ASP.NET health checks and the OpenAPI document.
            string health = await http.GetStringAsync("/health", TestContext.CancellationToken);
            StringAssert.Contains(health, "\"status\":\"Healthy\"");
            StringAssert.Contains(health, "\"input\":\"image\"");
            string openApi = await http.GetStringAsync("/openapi/v1.json", TestContext.CancellationToken);
            StringAssert.Contains(openApi, "\"/predict\"");
            StringAssert.Contains(openApi, "\"budget\"");

            // A truncated image and a bare "50" budget are 400s whose detail says what is wrong, in one line.
            (HttpStatusCode status, string body) = await Post(http, files.TruncatedPng, "");
            Assert.AreEqual(HttpStatusCode.BadRequest, status, body);
            StringAssert.Contains(body, "truncated");
            (status, body) = await Post(http, png, "?budget=50");
            Assert.AreEqual(HttpStatusCode.BadRequest, status, body);
            StringAssert.Contains(body, "did you mean 50%?");
            Assert.IsFalse(body.Contains("(Parameter", StringComparison.Ordinal), body);
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
        }
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

    private async Task<(HttpStatusCode Status, string Body)> Post(HttpClient http, string file, string query)
    {
        using var body = new ByteArrayContent(await File.ReadAllBytesAsync(file, TestContext.CancellationToken));
        body.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        using HttpResponseMessage response = await http.PostAsync("/predict" + query, body, TestContext.CancellationToken);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.CancellationToken));
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
}
