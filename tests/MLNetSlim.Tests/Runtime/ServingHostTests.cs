using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Testing;
using static MLNetSlim.Tests.MLNet.MLNetTestData;

namespace MLNetSlim.Tests.Runtime;

[TestClass]
public class ServingHostTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void AProcessThatOnlyLoadsAndPredicts_LeavesTheAllocatorAlone()
    {
        // docs/runtime.md: the glibc allocator tuning applies when training starts, never when the assembly loads.
        MultiTaskModelLoaders.Register(LinearMultiTaskModel.Load);
        var ml = new MLContext(1);
        Row[] rows = Rows(4);
        ControllableMultiTaskTransformer t = new ControllableMultiTaskEstimator(ml, Options(), new FakeTrainer().Run).Fit(Keyed(ml, rows));
        IDataView raw = Raw(ml, rows);
        string path = Path.Combine(TestData.TempRoot, $"mlnetslim-{Guid.NewGuid():N}.zip");
        string input = Path.ChangeExtension(path, ".json");
        try
        {
            ml.Model.Save(new TransformerChain<ITransformer>(t), raw.Schema, path);
            File.WriteAllText(input, JsonSerializer.Serialize(new { Features = rows.Select(r => r.Features) }));
            (int code, string stdout, string stderr) = LoadHostRunner.Run(TestContext.CancellationToken, path, input);
            Assert.AreEqual(0, code, stderr);
            using JsonDocument doc = JsonDocument.Parse(stdout);
            Assert.IsFalse(doc.RootElement.GetProperty("MallocTuningApplied").GetBoolean());
        }
        finally
        {
            File.Delete(path);
            File.Delete(input);
        }
    }
}
