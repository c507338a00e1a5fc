using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using MLNetSlim.Samples.WebApi;

namespace MLNetSlim.Tests.Samples;

/// <summary>
/// The WebApi in process (Microsoft.AspNetCore.Mvc.Testing's test server, issue 9): 64 concurrent requests at two
/// budgets, each answer equal to the sequential answer at its budget (same configuration, same scores, bit for bit).
/// </summary>
[TestClass]
public sealed class WebApiConcurrencyTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task SixtyFourConcurrentRequestsAtTwoBudgets_AnswerAsSequentialRequestsDo()
    {
        SampleModels.Files files = await SampleModels.GetAsync();
        byte[] png = await File.ReadAllBytesAsync(files.Png, TestContext.CancellationToken);
        await using WebApplication app = WebApiApp.Build(files.ImageModel, urls: null, poolSize: 2, builder => builder.WebHost.UseTestServer());
        await app.StartAsync(TestContext.CancellationToken);
        using HttpClient http = app.GetTestClient();

        string[] budgets = ["0.3", "1"];
        var sequential = new Dictionary<string, string>();
        foreach (string budget in budgets) sequential[budget] = await Predict(http, png, budget);
        Assert.AreNotEqual(Configuration(sequential["0.3"]), Configuration(sequential["1"]), "the two budgets choose different configurations");

        string[] concurrent = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() => Predict(http, png, budgets[i % 2]))));
        for (int i = 0; i < concurrent.Length; i++)
            Assert.AreEqual(sequential[budgets[i % 2]], concurrent[i], $"request {i} at budget {budgets[i % 2]}");
        await app.StopAsync(TestContext.CancellationToken);
    }

    private async Task<string> Predict(HttpClient http, byte[] png, string budget)
    {
        using var body = new ByteArrayContent(png);
        body.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        using HttpResponseMessage response = await http.PostAsync($"/predict?budget={budget}&weights=digit:0.7,fashion:0.3", body, TestContext.CancellationToken);
        string json = await response.Content.ReadAsStringAsync(TestContext.CancellationToken);
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, json);
        return json;
    }

    private static string Configuration(string json)
    {
        using JsonDocument doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("configuration").GetString()!;
    }
}
